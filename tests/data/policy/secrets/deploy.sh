# ruleid: gitlab-token
export GITLAB_TOKEN=glpat-ioYYZMqOFTpjULngeZWi
# ruleid: github-token
curl -H "Authorization: token ghp_lqVju337BAY1Ndw6MNAfdwF4lzcphlyRix2z" https://git.internal/api
# ruleid: aws-access-key-id
export AWS_ACCESS_KEY_ID=ASIAAETRP5MNUFC5CFX7
# ruleid: aws-secret-access-key
export AWS_SECRET_ACCESS_KEY=xHs5+stBJTn5+GgXzSG1UVgxWnitSLY7jhx83EVa
# ruleid: azure-ad-client-secret
export AZURE_CLIENT_SECRET=x8G0Q~EX3ef2Xl5KSR3RPK5eoeZci5j11l3.3htL
curl -u admin:FOKZCGhQ#5ysY38 amqps://broker.internal
# negatives
# ok: aws-access-key-id
export AWS_ACCESS_KEY_ID=$(vault read -field=key aws/creds)
# ok: aws-secret-access-key
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET}"
# ok: aws-secret-access-key
git rev-parse HEAD # 9fceb02d0ae598e95dc970b74767f19372d61af8
# ok: generic-secret-assignment
echo "token=$TOKEN"
