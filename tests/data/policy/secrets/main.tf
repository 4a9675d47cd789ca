provider "aws" {
# ruleid: aws-access-key-id
  access_key = "AKIA4VZV6FMIML4NEDS5"
# ruleid: aws-secret-access-key
  secret_key = "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"
}
# ruleid: generic-secret-assignment
variable "db_password" { default = "SRmj7zTovUGKLQ%utZD" }
# negatives
# ok: aws-secret-access-key
  secret_key = var.aws_secret_key
# ok: generic-secret-assignment
  password = random_password.db.result
# ok: generic-secret-assignment
  kms_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
