"""The cache's item conversion: boto3's serializer in, plain JSON-like values out."""

from __future__ import annotations

from qualys_lambda.cache import from_item, key_of, to_item


def test_to_item_writes_dynamodb_attribute_values() -> None:
    item = to_item({"function_arn": "arn:x", "ttl": 1700000000, "layers": ["a"], "ok": True, "gone": None})
    assert item == {
        "function_arn": {"S": "arn:x"},
        "ttl": {"N": "1700000000"},
        "layers": {"L": [{"S": "a"}]},
        "ok": {"BOOL": True},
        "gone": {"NULL": True},
    }


def test_from_item_round_trip_gives_ints_and_floats_not_decimals() -> None:
    values = {"ttl": 1700000000, "ratio": 0.25, "findings": {"high": 1, "list": [2, "x"]}, "flag": False}
    plain = from_item(to_item(values))
    assert plain == values
    assert type(plain["ttl"]) is int and type(plain["ratio"]) is float


def test_key_of_is_the_tables_hash_key() -> None:
    assert key_of("arn:aws:lambda:us-east-1:1:function:f") == {
        "function_arn": {"S": "arn:aws:lambda:us-east-1:1:function:f"}
    }
