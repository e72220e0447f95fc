"""One key-prefix rule for the modules' listings and uploads and the roles' composed keys (the safety upload)."""
from ansible_collections.yieldvault.db_restore.plugins.filter.s3_prefix import s3_key_prefix
from ansible_collections.yieldvault.db_restore.plugins.module_utils.s3 import normalize_prefix


def test_a_prefix_has_no_leading_slash_and_one_trailing_slash():
    for given in ("safety", "safety/", "/safety/", " safety ", "//safety"):
        assert normalize_prefix(given) == "safety/", given
        assert s3_key_prefix(given) == "safety/", given
    assert normalize_prefix("") == "" and normalize_prefix(None) == "" and s3_key_prefix(None) == ""
    assert normalize_prefix("a/b") == "a/b/"
