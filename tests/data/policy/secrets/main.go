package main
// ruleid: github-fine-grained-token
const githubPAT = "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"
// ruleid: github-token
const ghApp = "ghs_iDeMbRF3U2NEBaJMWBSjTWG24zudwYffTJJM"
// ruleid: aws-access-key-id
var awsCreds = credentials.NewStaticCredentials("ASIA3QCSQYFFQ6N7LN5E", "AsxBDSBil08+JeGacygXyRWE4H5MlB1gBZcy3rDA", "")
// ruleid: connection-string-password
const dsn = "postgresql://reporter:3jUhCSBh!lOL6eC@pg.internal/reports?sslmode=require"
// ruleid: jwt
const jwtToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2Mjg0ODg3ODgxIiwibmFtZSI6Im14eXdmeXpvIiwiaWF0IjoxNzA5NTcwOTU0fQ.9ZPlPD9jFpFq7HT9wX5JDJntKBIJB94FWaJQfcZpUoB"
// negatives
// ok: connection-string-password
const dsn = "postgresql://reporter@pg.internal/reports"
// ok: github-token
const ghApp = "ghs_" + suffix
// ok: generic-secret-assignment
var hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
// ok: generic-secret-assignment
const apiKeyHeader = "X-Api-Key"
