// ruleid: slack-webhook-url
private static final String SLACK_WEBHOOK = "https://hooks.slack.com/services/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";
// ruleid: gcp-api-key
private static final String MAPS_KEY = "AIzaUT_uatiaNvh4v0mT4XHLL0RoXtXqQTUMJM4";
// ruleid: connection-string-password
String url = "jdbc:mysql://orders:9x2HMsnx!nX5R5y@mysql.internal:3306/orders";
// ruleid: connection-string-password-kv
String conn = "Server=sql.internal;Database=Orders;User Id=svc;Password=bgixutIO#BusJiA;";
// ruleid: twilio-api-key
private static final String TWILIO_KEY = "SK18326664b54be56b11171bc07c26d5ef";
// negatives
// ok: connection-string-password-kv
String conn = "Server=sql.internal;Database=Orders;Integrated Security=true;";
// ok: connection-string-password-kv
String conn = "Server=sql.internal;Database=Orders;User Id=svc;Password=${DB_PASS};";
// ok: twilio-api-key
private static final String TWILIO_ACCOUNT = "AC" + accountSuffix;
// ok: stripe-secret-key
private static final String KEY_PREFIX = "sk_live_";
