# ruleid: gitlab-token
export GITLAB_TOKEN=glpat-mie7YapLF7FLv-xHs5-s
# ruleid: github-token
curl -H "Authorization: token ghp_nWAE9y3u79yJxijTciu9iufhvq6DQwLhZrJD" https://git.internal/api
# ruleid: aws-access-key-id
export AWS_ACCESS_KEY_ID=ASIAKKQYLTRWJFM5RQY6
# ruleid: aws-secret-access-key
export AWS_SECRET_ACCESS_KEY=3EVaNBEX3ef2Xl5KSR3RPK5eoeZci5j11l33htLK
# ruleid: azure-ad-client-secret
export AZURE_CLIENT_SECRET=OKZ0Q~Ng1wO4qyr8LZRZW5aJHl6A1laF2D.NiDTi
curl -u admin:A0mAmbIc#qKQYrC amqps://broker.internal
# negatives
# ok: aws-access-key-id
export AWS_ACCESS_KEY_ID=$(vault read -field=key aws/creds)
# ok: aws-secret-access-key
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET}"
# ok: aws-secret-access-key
git rev-parse HEAD # 9fceb02d0ae598e95dc970b74767f19372d61af8
# ok: generic-secret-assignment
echo "token=$TOKEN"
