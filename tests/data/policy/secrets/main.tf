provider "aws" {
# ruleid: aws-access-key-id
  access_key = "ASIA6BI3ET5Y4BB3LBUH"
# ruleid: aws-secret-access-key
  secret_key = "gljmpNVXgyGPbvqzMyIy3JGOBjspnCTk1670dxVa"
}
# ruleid: generic-secret-assignment
variable "db_password" { default = "Ti5o9ThSK33KSP%FFif" }
# negatives
# ok: aws-secret-access-key
  secret_key = var.aws_secret_key
# ok: generic-secret-assignment
  password = random_password.db.result
# ok: generic-secret-assignment
  kms_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
