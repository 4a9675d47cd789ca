package main
// ruleid: github-fine-grained-token
const githubPAT = "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"
// ruleid: github-token
const ghApp = "ghs_EBaJMWBSjTWG24zudwYffTJJMpxQzbQCS0Q6"
// ruleid: aws-access-key-id
var awsCreds = credentials.NewStaticCredentials("ASIAFFQ6N7LN5EAWYABJ", "Bil08+JeGacygXyRWE4H5MlB1gBZcy3rDApElCCc", "")
// ruleid: connection-string-password
const dsn = "postgresql://reporter:L6eC798Z%6JhTh9@pg.internal/reports?sslmode=require"
// ruleid: jwt
const jwtToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI4Nzg4MTYyNzk3IiwibmFtZSI6ImdkanRkemFxIiwiaWF0IjoxNzA4MDc3MTQwfQ.jFpFq7HT9wX5JDJntKBIJB94FWaJQfcZpUoBg9_QKCW"
// negatives
// ok: connection-string-password
const dsn = "postgresql://reporter@pg.internal/reports"
// ok: github-token
const ghApp = "ghs_" + suffix
// ok: generic-secret-assignment
var hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
// ok: generic-secret-assignment
const apiKeyHeader = "X-Api-Key"
