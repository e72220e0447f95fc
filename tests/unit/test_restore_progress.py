"""The progress line of a running pg_restore, from its --verbose log (plugins/module_utils/restore_progress.py)."""
from ansible_collections.yieldvault.db_restore.plugins.module_utils import restore_progress as rp

SERIAL_LOG = """pg_restore: connecting to database for restore
pg_restore: dropping TABLE public.User
pg_restore: creating TABLE "public.User"
pg_restore: creating SEQUENCE "public.User_id_seq"
pg_restore: processing data for table "public.User"
pg_restore: executing SEQUENCE SET User_id_seq
""".splitlines()

PARALLEL_LOG = """pg_restore: processing item 3401 ENCODING ENCODING
pg_restore: processing item 215 TABLE User
pg_restore: entering main parallel loop
pg_restore: launching item 3390 TABLE DATA User
pg_restore: launching item 3391 TABLE DATA Transaction
pg_restore: finished item 3390 TABLE DATA User
pg_restore: launching item 3250 INDEX User_email_key
""".splitlines()


def test_toc_items_are_the_list_lines_that_are_not_comments():
    listing = ";\n; Archive created at 2026-04-29\n;\n215; 1259 16390 TABLE public User app\n\n3390; 0 16390 TABLE DATA public User app\n"
    assert rp.toc_items(listing) == 2


def test_items_done_counts_serial_and_parallel_logs():
    assert rp.items_done(SERIAL_LOG) == 4  # dropping and connecting are not items done
    assert rp.items_done(PARALLEL_LOG) == 3  # two processed before the workers, one finished by a worker
    assert rp.items_done([]) == 0


def test_progress_line_with_an_estimate():
    done, percent, left, line = rp.progress(120, 450, 40)
    assert (done, percent) == (120, 26)
    assert left == 40 * 330 / 120.0
    assert line == "pg_restore 120/450 items (26%), 40 s, about 2 min left"


def test_progress_line_before_the_first_item_and_without_a_total():
    assert rp.progress(0, 450, 3)[3] == "pg_restore 0/450 items (0%), 3 s"
    assert rp.progress(500, 450, 3)[:2] == (450, 100)  # never above the table of contents
    assert rp.progress(7, 0, 65)[3] == "pg_restore 7 items, 1 min"


def test_human_seconds():
    assert [rp.human_seconds(s) for s in (0, 59.4, 61, 3599, 3600, 7380)] == [
        "0 s", "59 s", "1 min", "60 min", "1 h 00 min", "2 h 03 min"]
