// ruleid: slack-webhook-url
private static final String SLACK_WEBHOOK = "https://hooks.slack.com/services/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";
// ruleid: gcp-api-key
private static final String MAPS_KEY = "AIzav0mT4XHLL0RoXtXqQTUMJM4PZWvj2Rd8CTA";
// ruleid: connection-string-password
String url = "jdbc:mysql://orders:D2hyRGFr!g1MMwJ@mysql.internal:3306/orders";
// ruleid: connection-string-password-kv
String conn = "Server=sql.internal;Database=Orders;User Id=svc;Password=uXu9KIWy#K2MwXC;";
// ruleid: twilio-api-key
private static final String TWILIO_KEY = "SK1171bc07c26d5ef6518aee551e55e7a0";
// negatives
// ok: connection-string-password-kv
String conn = "Server=sql.internal;Database=Orders;Integrated Security=true;";
// ok: connection-string-password-kv
String conn = "Server=sql.internal;Database=Orders;User Id=svc;Password=${DB_PASS};";
// ok: twilio-api-key
private static final String TWILIO_ACCOUNT = "AC" + accountSuffix;
// ok: stripe-secret-key
private static final String KEY_PREFIX = "sk_live_";
