import requests

AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # planted for the demo: AWS's documented example key id, a fake


def handler(event, context):
    return requests.get("https://example.com", timeout=5).status_code
