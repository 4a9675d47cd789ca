#!/usr/bin/env python3
"""Generates the labelled secret corpus used by tests/policy (precision and
recall per rule family). Every key is random but shaped like the provider's
format; none is, or was ever, a real credential. Deterministic (seeded), so
the committed files can be regenerated bit for bit:

    python3 tests/data/policy/secrets/generate.py tests/data/policy/secrets

Each true secret sits on the line after a `ruleid: RULE` comment; each
negative (look-alike, placeholder, test value, documentation example) on the
line after an `ok: RULE` comment naming the rule it must not trigger.
"""
import base64, json, os, random, string, sys

R = random.Random(20261130)
UP, LO, DG = string.ascii_uppercase, string.ascii_lowercase, string.digits
AN = UP + LO + DG
B64 = AN + "+/"
URL = AN + "-_"

def rs(alpha, n):
    return "".join(R.choice(alpha) for _ in range(n))

def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")

def aws_id(): return R.choice(["AKIA", "ASIA"]) + rs(UP + "234567", 16)
def aws_secret(): return rs(B64, 40)
def gcp_key(): return "AIza" + rs(AN + "-_", 35)
def ghp(p="ghp"): return p + "_" + rs(AN, 36)
def github_pat(): return "github_pat_" + rs(AN, 22) + "_" + rs(AN, 59)
def glpat(): return "glpat-" + rs(AN + "-_", 20)
def atbb(): return "ATBB" + rs(AN, 32)
def slack(): return "xoxb-" + rs(DG, 12) + "-" + rs(DG, 13) + "-" + rs(AN, 24)
def slack_hook(): return "https://hooks.slack.com/services/T" + rs(UP + DG, 10) + "/B" + rs(UP + DG, 10) + "/" + rs(AN, 24)
def stripe(kind="sk_live_"): return kind + rs(AN, 24 + R.randrange(0, 76))
def twilio_sk(): return "SK" + rs("0123456789abcdef", 32)
def hex32(): return rs("0123456789abcdef", 32)
def sendgrid(): return "SG." + rs(URL, 22) + "." + rs(URL, 43)
def openai_proj(): return "sk-proj-" + rs(URL, 74) + "T3BlbkFJ" + rs(URL, 74)
def openai_legacy(): return "sk-" + rs(AN, 20) + "T3BlbkFJ" + rs(AN, 20)
def anthropic(): return "sk-ant-api03-" + rs(URL, 93) + "AA"
def openai48(): return "sk-" + rs(AN, 48)
def azure_storage(): return rs(B64, 86) + "=="
def azure_client(): return rs(AN, 3) + R.choice(DG) + "Q~" + rs(AN + "_~.-", 34)
def jwt():
    return (b64url({"alg": "HS256", "typ": "JWT"}) + "." +
            b64url({"sub": rs(DG, 10), "name": rs(LO, 8), "iat": 1700000000 + R.randrange(10**7)}) +
            "." + rs(URL, 43))
def pem(kind="RSA PRIVATE KEY", n=1200):
    body = base64.b64encode(bytes(R.randrange(256) for _ in range(n))).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----" % (kind, "\n".join(lines), kind)
def pw(): return rs(AN, 8) + R.choice("!#%") + rs(AN, 6)

def files():
    f = {}
    # Python service settings.
    f["settings.py"] = ("#", [
        ("import os", None),
        ("AWS_ACCESS_KEY_ID = \"%s\"" % aws_id(), "aws-access-key-id"),
        ("AWS_SECRET_ACCESS_KEY = \"%s\"" % aws_secret(), "aws-secret-access-key"),
        ("aws_session = boto3.Session(aws_access_key_id=\"%s\")" % aws_id(), "aws-access-key-id"),
        ("GITHUB_TOKEN = \"%s\"" % ghp(), "github-token"),
        ("SLACK_BOT_TOKEN = os.environ.get(\"SLACK_BOT_TOKEN\", \"%s\")" % slack(), "slack-token"),
        ("stripe.api_key = \"%s\"" % stripe(), "stripe-secret-key"),
        ("OPENAI_API_KEY = \"%s\"" % openai_proj(), "openai-api-key"),
        ("DATABASE_URL = \"postgres://app:%s@db.internal:5432/app\"" % pw(), "connection-string-password"),
        ("SECRET_KEY = \"%s\"" % rs(AN + "!@#%^&*", 50), "generic-secret-assignment"),
        ("# negatives", None),
        ("AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"", "!aws-access-key-id"),
        ("AWS_SECRET_ACCESS_KEY = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"", "!aws-secret-access-key"),
        ("GITHUB_TOKEN = os.environ[\"GITHUB_TOKEN\"]", "!generic-secret-assignment"),
        ("api_key = \"your-api-key-here\"", "!generic-secret-assignment"),
        ("stripe.api_key = \"sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\"", "!stripe-secret-key"),
        ("password = get_password_from_vault(\"db\")", "!generic-secret-assignment"),
        ("DATABASE_URL = \"postgres://app:${DB_PASSWORD}@db.internal:5432/app\"", "!connection-string-password"),
        ("token_url = \"https://auth.example.internal/oauth/token\"", "!generic-secret-assignment"),
        ("test_token = \"ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", "!github-token"),
    ])
    # JavaScript client.
    f["client.js"] = ("//", [
        ("const octokit = new Octokit({ auth: '%s' });" % ghp("gho"), "github-token"),
        ("const gl = new Gitlab({ token: '%s' });" % glpat(), "gitlab-token"),
        ("const sg = require('@sendgrid/mail'); sg.setApiKey('%s');" % sendgrid(), "sendgrid-api-key"),
        ("const mapsKey = '%s';" % gcp_key(), "gcp-api-key"),
        ("const hook = '%s';" % slack_hook(), "slack-webhook-url"),
        ("const anthropic = new Anthropic({ apiKey: '%s' });" % anthropic(), "anthropic-api-key"),
        ("fetch(url, { headers: { Authorization: 'Bearer %s' } });" % jwt(), "jwt"),
        ("const mongo = 'mongodb+srv://svc:%s@cluster0.abcde.mongodb.net/prod';" % pw(), "connection-string-password"),
        ("const config = { apiKey: \"%s\", region: 'eu' };" % rs(AN, 32), "generic-secret-assignment"),
        ("// negatives", None),
        ("const octokit = new Octokit({ auth: process.env.GITHUB_TOKEN });", "!github-token"),
        ("const key = 'AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX';", "!gcp-api-key"),
        ("const sha = '3f786850e387550fdab836ed7e6dc881de23001b';", "!generic-secret-assignment"),
        ("const id = '123e4567-e89b-12d3-a456-426614174000';", "!generic-secret-assignment"),
        ("const tokenizer = new Tokenizer({ vocabSize: 50257 });", "!generic-secret-assignment"),
        ("const jwtExample = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.signature';", "!jwt"),
        ("const mongo = 'mongodb://localhost:27017/dev';", "!connection-string-password"),
    ])
    # YAML deployment config.
    f["deploy.yaml"] = ("#", [
        ("database:", None),
        ("  url: mysql://billing:%s@mysql.prod:3306/billing" % pw(), "connection-string-password"),
        ("  password: \"%s\"" % (rs(AN, 12) + "#" + rs(AN, 6)), "generic-secret-assignment"),
        ("slack:", None),
        ("  token: %s" % slack(), "slack-token"),
        ("twilio:", None),
        ("  api_key_sid: %s" % twilio_sk(), "twilio-api-key"),
        ("  twilio_auth_token: %s" % hex32(), "twilio-auth-token"),
        ("gitlab:", None),
        ("  runner_token: %s" % glpat(), "gitlab-token"),
        ("azure:", None),
        ("  storage: DefaultEndpointsProtocol=https;AccountName=prodstore;AccountKey=%s;EndpointSuffix=core.windows.net" % azure_storage(), "azure-storage-account-key"),
        ("  client_secret: %s" % azure_client(), "azure-ad-client-secret"),
        ("# negatives", None),
        ("  password: changeme", "!generic-secret-assignment"),
        ("  password: \"{{ .Values.db.password }}\"", "!generic-secret-assignment"),
        ("  token: ${SLACK_TOKEN}", "!slack-token"),
        ("  url: redis://localhost:6379/0", "!connection-string-password"),
        ("  storage: UseDevelopmentStorage=true", "!azure-storage-account-key"),
        ("  api_key: <your-api-key>", "!generic-secret-assignment"),
        ("  image: registry.internal/app@sha256:%s" % rs("0123456789abcdef", 64), "!generic-secret-assignment"),
    ])
    # .env file.
    f["prod.env"] = ("#", [
        ("STRIPE_SECRET_KEY=%s" % stripe(), "stripe-secret-key"),
        ("STRIPE_RESTRICTED_KEY=%s" % stripe("rk_live_"), "stripe-secret-key"),
        ("STRIPE_TEST_KEY=%s" % stripe("sk_test_"), "stripe-secret-key"),
        ("SENDGRID_API_KEY=%s" % sendgrid(), "sendgrid-api-key"),
        ("OPENAI_API_KEY=%s" % openai_legacy(), "openai-api-key"),
        ("LLM_KEY=%s" % openai48(), "openai-style-key"),
        ("REDIS_URL=rediss://default:%s@cache.internal:6380" % pw(), "connection-string-password"),
        ("BITBUCKET_APP_PASSWORD=%s" % atbb(), "bitbucket-app-password"),
        ("BITBUCKET_CLIENT_SECRET=%s" % rs(AN, 32), "bitbucket-client-secret"),
        ("API_KEY=%s" % rs(AN, 32), "generic-secret-assignment"),
        ("# negatives", None),
        ("STRIPE_SECRET_KEY=", "!stripe-secret-key"),
        ("SENDGRID_API_KEY=SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "!sendgrid-api-key"),
        ("OPENAI_API_KEY=sk-...", "!openai-api-key"),
        ("API_KEY=replace_me_with_a_real_key", "!generic-secret-assignment"),
        ("LOG_LEVEL=debug", "!generic-secret-assignment"),
        ("TOKEN_TTL_SECONDS=3600", "!generic-secret-assignment"),
        ("PASSWORD_MIN_LENGTH=12", "!generic-secret-assignment"),
    ])
    # Go service.
    f["main.go"] = ("//", [
        ("package main", None),
        ("const githubPAT = \"%s\"" % github_pat(), "github-fine-grained-token"),
        ("const ghApp = \"%s\"" % ghp("ghs"), "github-token"),
        ("var awsCreds = credentials.NewStaticCredentials(\"%s\", \"%s\", \"\")" % (aws_id(), aws_secret()), "aws-access-key-id"),
        ("const dsn = \"postgresql://reporter:%s@pg.internal/reports?sslmode=require\"" % pw(), "connection-string-password"),
        ("const jwtToken = \"%s\"" % jwt(), "jwt"),
        ("// negatives", None),
        ("const dsn = \"postgresql://reporter@pg.internal/reports\"", "!connection-string-password"),
        ("const ghApp = \"ghs_\" + suffix", "!github-token"),
        ("var hash = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"", "!generic-secret-assignment"),
        ("const apiKeyHeader = \"X-Api-Key\"", "!generic-secret-assignment"),
    ])
    # Java.
    f["Config.java"] = ("//", [
        ("private static final String SLACK_WEBHOOK = \"%s\";" % slack_hook(), "slack-webhook-url"),
        ("private static final String MAPS_KEY = \"%s\";" % gcp_key(), "gcp-api-key"),
        ("String url = \"jdbc:mysql://orders:%s@mysql.internal:3306/orders\";" % pw(), "connection-string-password"),
        ("String conn = \"Server=sql.internal;Database=Orders;User Id=svc;Password=%s;\";" % pw(), "connection-string-password-kv"),
        ("private static final String TWILIO_KEY = \"%s\";" % twilio_sk(), "twilio-api-key"),
        ("// negatives", None),
        ("String conn = \"Server=sql.internal;Database=Orders;Integrated Security=true;\";", "!connection-string-password-kv"),
        ("String conn = \"Server=sql.internal;Database=Orders;User Id=svc;Password=${DB_PASS};\";", "!connection-string-password-kv"),
        ("private static final String TWILIO_ACCOUNT = \"AC\" + accountSuffix;", "!twilio-api-key"),
        ("private static final String KEY_PREFIX = \"sk_live_\";", "!stripe-secret-key"),
    ])
    # Service account JSON (comments are not JSON, but the scanner reads text).
    sa = {"type": "service_account", "project_id": "prod-" + rs(LO, 6),
          "private_key_id": rs("0123456789abcdef", 40)}
    f["service-account.json"] = ("//", [
        ("{", None),
        ("  \"type\": \"service_account\",", None),
        ("  \"private_key_id\": \"%s\"," % sa["private_key_id"], "gcp-service-account-key"),
        ("  \"client_email\": \"svc@prod.iam.gserviceaccount.com\"", None),
        ("}", None),
        ("// negatives", None),
        ("  \"private_key_id\": \"0000000000000000000000000000000000000000\",", "!gcp-service-account-key"),
    ])
    # Keys.
    f["keys.txt"] = ("#", [
        (pem("RSA PRIVATE KEY"), "private-key"),
        (pem("EC PRIVATE KEY", 120), "private-key"),
        (pem("OPENSSH PRIVATE KEY", 400), "private-key"),
        (pem("PRIVATE KEY", 1200), "private-key"),
        ("# negatives", None),
        ("-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----", "!private-key"),
        ("-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----" % base64.b64encode(bytes(R.randrange(256) for _ in range(270))).decode(), "!private-key"),
        ("-----BEGIN PRIVATE KEY-----\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n-----END PRIVATE KEY-----", "!private-key"),
    ])
    # Java properties.
    f["application.properties"] = ("#", [
        ("spring.datasource.url=jdbc:postgresql://pg.internal:5432/orders", None),
        ("spring.datasource.password=%s" % (rs(AN, 14) + "!" + rs(AN, 5)), "generic-secret-assignment"),
        ("app.signing.secret=%s" % rs(AN + "+/", 44), "generic-secret-assignment"),
        ("# negatives", None),
        ("spring.datasource.password=${DB_PASSWORD}", "!generic-secret-assignment"),
        ("app.token.expiry=PT15M", "!generic-secret-assignment"),
        ("app.secret.rotation-days=30", "!generic-secret-assignment"),
    ])
    # Shell and Terraform.
    f["deploy.sh"] = ("#", [
        ("export GITLAB_TOKEN=%s" % glpat(), "gitlab-token"),
        ("curl -H \"Authorization: token %s\" https://git.internal/api" % ghp(), "github-token"),
        ("export AWS_ACCESS_KEY_ID=%s" % aws_id(), "aws-access-key-id"),
        ("export AWS_SECRET_ACCESS_KEY=%s" % aws_secret(), "aws-secret-access-key"),
        ("export AZURE_CLIENT_SECRET=%s" % azure_client(), "azure-ad-client-secret"),
        ("curl -u admin:%s amqps://broker.internal" % pw(), None),
        ("# negatives", None),
        ("export AWS_ACCESS_KEY_ID=$(vault read -field=key aws/creds)", "!aws-access-key-id"),
        ("export AWS_SECRET_ACCESS_KEY=\"${AWS_SECRET}\"", "!aws-secret-access-key"),
        ("git rev-parse HEAD # 9fceb02d0ae598e95dc970b74767f19372d61af8", "!aws-secret-access-key"),
        ("echo \"token=$TOKEN\"", "!generic-secret-assignment"),
    ])
    f["main.tf"] = ("#", [
        ("provider \"aws\" {", None),
        ("  access_key = \"%s\"" % aws_id(), "aws-access-key-id"),
        ("  secret_key = \"%s\"" % aws_secret(), "aws-secret-access-key"),
        ("}", None),
        ("variable \"db_password\" { default = \"%s\" }" % (rs(AN, 14) + "%" + rs(AN, 4)), "generic-secret-assignment"),
        ("# negatives", None),
        ("  secret_key = var.aws_secret_key", "!aws-secret-access-key"),
        ("  password = random_password.db.result", "!generic-secret-assignment"),
        ("  kms_key_id = \"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\"", "!generic-secret-assignment"),
    ])
    return f

def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for name, (cm, rows) in files().items():
        lines = []
        for text, label in rows:
            if label:
                if label.startswith("!"):
                    lines.append("%s ok: %s" % (cm, label[1:]))
                else:
                    lines.append("%s ruleid: %s" % (cm, label))
            lines.append(text)
        with open(os.path.join(out, name), "w") as fh:
            fh.write("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
