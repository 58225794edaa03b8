"""qualys-lambda: scan AWS Lambda functions with Qualys QScanner on every deploy."""
