// ruleid: github-token
const octokit = new Octokit({ auth: 'gho_u5NmqXAe3XQOB1tMtSC9gJQfCF9TxPRf5aYr' });
// ruleid: gitlab-token
const gl = new Gitlab({ token: 'glpat-BQ41XWUxhslk4AXtu4Tz' });
// ruleid: sendgrid-api-key
const sg = require('@sendgrid/mail'); sg.setApiKey('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');
// ruleid: gcp-api-key
const mapsKey = 'AIzaE3PoSXvzsO0Jr2Z3Fv-kMT-Z95ioMFgnebG';
// ruleid: slack-webhook-url
const hook = 'https://hooks.slack.com/services/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';
// ruleid: anthropic-api-key
const anthropic = new Anthropic({ apiKey: 'sk-ant-api03-TaJMGv9g1qXkbGHe_IlJXLFxpxbwklNBJfn4lQv_JZiaz823neGzaiQXhPwSGtYu4Uu438nXESCgBBQJHaFE0lWdUYwQxAA' });
// ruleid: jwt
fetch(url, { headers: { Authorization: 'Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI3MTk5MTY2Mjg5IiwibmFtZSI6InZva3p6ZnZnIiwiaWF0IjoxNzAxODk1NDA1fQ.AeISeW8XcnOPCn-SOO2S-KNqke9pdxLpo_JwKW84Ji9' } });
// ruleid: connection-string-password
const mongo = 'mongodb+srv://svc:V6oZDpbI#qPbRDj@cluster0.abcde.mongodb.net/prod';
// ruleid: generic-secret-assignment
const config = { apiKey: "tXoVrcUjb990TwXpUFITIZdbQqWH9U31", region: 'eu' };
// negatives
// ok: github-token
const octokit = new Octokit({ auth: process.env.GITHUB_TOKEN });
// ok: gcp-api-key
const key = 'AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX';
// ok: generic-secret-assignment
const sha = '3f786850e387550fdab836ed7e6dc881de23001b';
// ok: generic-secret-assignment
const id = '123e4567-e89b-12d3-a456-426614174000';
// ok: generic-secret-assignment
const tokenizer = new Tokenizer({ vocabSize: 50257 });
// ok: jwt
const jwtExample = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.signature';
// ok: connection-string-password
const mongo = 'mongodb://localhost:27017/dev';
