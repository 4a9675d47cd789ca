import os
# ruleid: aws-access-key-id
AWS_ACCESS_KEY_ID = "AKIADVWTFKTANGPVYQEB"
# ruleid: aws-secret-access-key
AWS_SECRET_ACCESS_KEY = "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"
# ruleid: aws-access-key-id
aws_session = boto3.Session(aws_access_key_id="ASIAVMESMLDPIXPXB3RB")
# ruleid: github-token
GITHUB_TOKEN = "ghp_sR0PfbopcwbrdfoXeZF5fjTrbzrajYU5bkAc"
# ruleid: slack-token
SLACK_BOT_TOKEN = os.environ.get("SLACK_BOT_TOKEN", "xoxb-954788517582-5379530458424-nlu09x0FMNr7N5fDMUEgdMBL")
# ruleid: stripe-secret-key
stripe.api_key = "sk_live_CokfM7bekat3tQfza7OiZmC0PyjZViTj17fo6BbLkU8Y0xX7GSLtK"
# ruleid: openai-api-key
OPENAI_API_KEY = "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"
# ruleid: connection-string-password
DATABASE_URL = "postgres://app:cM2nYen5#bhlvAR@db.internal:5432/app"
# ruleid: generic-secret-assignment
SECRET_KEY = "p!n%IH%7to7dkdqbGJRDbg1YWC7Z*gvMBelFgMf%fhfm1jKvZg"
# negatives
# ok: aws-access-key-id
AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
# ok: aws-secret-access-key
AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
# ok: generic-secret-assignment
GITHUB_TOKEN = os.environ["GITHUB_TOKEN"]
# ok: generic-secret-assignment
api_key = "your-api-key-here"
# ok: stripe-secret-key
stripe.api_key = "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx"
# ok: generic-secret-assignment
password = get_password_from_vault("db")
# ok: connection-string-password
DATABASE_URL = "postgres://app:${DB_PASSWORD}@db.internal:5432/app"
# ok: generic-secret-assignment
token_url = "https://auth.example.internal/oauth/token"
# ok: github-token
test_token = "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
