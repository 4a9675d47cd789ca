import os
import json
# ruleid: py-deps
import pickle
import requests

def handler(expr, url):
    # ruleid: py-no-eval
    value = eval(expr)
    # ok: py-no-eval
    safe = json.loads(expr)
    # ruleid: py-tls-verify
    r = requests.get(url, verify=False)
    # ok: py-tls-verify
    r = requests.get(url, verify=True)
    # ruleid: aws-access-key-id
    key = "AKIAQYLPMN5HFIQR7XYZ"
    return value, safe, r, key
