import pytest

from ecauto_lib.asin import asin_in_identifier, is_asin, normalize_asin
from ecauto_lib.errors import InvalidAsinError
from ecauto_lib.listings_import import listings_from_base_items, listings_from_csv


@pytest.mark.parametrize(
    ("identifier", "asin"),
    [
        ("B0FGQJ45HW", "B0FGQJ45HW"),
        ("b-B0FGQJ45HW-20251120123456", "B0FGQJ45HW"),
        ("b0fgqj45hw", "B0FGQJ45HW"),
        ("4062938421", "4062938421"),  # an ISBN-10 (a book's ASIN): its check digit holds
        ("4062938420", None),  # ten digits with a wrong check digit: a seller's numeric SKU, not a book
        ("1234567890", None),
        ("sku-1234567890", None),
        ("123456789X", "123456789X"),
        ("SKU-123", None),
        ("", None),
        (None, None),
        ("B0FGQJ45HW-B07YV55TNL", None),  # two ASINs: ambiguous
        ("xB0FGQJ45HW", None),
    ],
)
def test_asin_in_identifier(identifier, asin):
    assert asin_in_identifier(identifier) == asin


def test_normalize_asin_message():
    assert normalize_asin(" b07yv55tnl ") == "B07YV55TNL"
    assert is_asin("B07YV55TNL") and not is_asin("B07YV55TN")
    with pytest.raises(InvalidAsinError, match="malformed ASIN 'B07-YV55'"):
        normalize_asin("B07-YV55")


def test_from_base_items_keeps_price_and_visibility_and_skips_non_amazon_items():
    items = [
        {"item_id": 11, "identifier": "B0FGQJ45HW", "price": 1300, "visible": 1},
        {"item_id": 12, "identifier": "b-B07YV55TNL-20251120123456", "price": 2990, "visible": 0},
        {"item_id": 13, "identifier": "handmade-001", "price": 500, "visible": 1},
        {"item_id": 14, "identifier": "B0FGQJ45HW", "price": 1300, "visible": 1},
    ]
    parsed = listings_from_base_items("shop", items)
    assert [(r.asin, r.base_item_id, r.base_price, r.base_visible) for r in parsed.rows] == [
        ("B0FGQJ45HW", 11, 1300, True),
        ("B07YV55TNL", 12, 2990, False),
    ]
    assert parsed.skipped == 1
    assert parsed.problems == [
        "shop: ASIN B0FGQJ45HW is listed twice (items 11 and 14); item 14 not imported"
    ]


def test_csv_bad_rows_reported_with_line_numbers_good_rows_kept(tmp_path):
    path = tmp_path / "listings.csv"
    path.write_text(
        "account_id,asin,base_item_id\n"
        "shop,B0FGQJ45HW,101\n"  # line 2 ok
        "shop,B0FGQJ45H,102\n"  # 3 malformed ASIN
        "ghost,B07YV55TNL,103\n"  # 4 unknown account
        "shop,B07YV55TNL,abc\n"  # 5 bad id
        "shop,B0FGQJ45HW,101\n"  # 6 exact duplicate: ignored
        "shop,B0FGQJ45HW,104\n"  # 7 conflicting item id
        "shop,B06Y69FKT2,101\n"  # 8 item id reused for another ASIN
        "shop,b06y69fkt2,105\n",  # 9 ok (normalised)
        encoding="utf-8",
    )
    parsed = listings_from_csv(path, {"shop"})
    assert [(r.asin, r.base_item_id) for r in parsed.rows] == [("B0FGQJ45HW", 101), ("B06Y69FKT2", 105)]
    lines = [p.split(": line ")[1].split(":")[0] for p in parsed.problems]
    assert lines == ["3", "4", "5", "7", "8"]
    assert "unknown account id 'ghost'" in parsed.problems[1]
    assert "has item 104 here but item 101 on line 2" in parsed.problems[3]


def test_csv_missing_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("account,asin\nshop,B0FGQJ45HW\n")
    parsed = listings_from_csv(path, {"shop"})
    assert not parsed.rows and "missing column(s) base_item_id;" in parsed.problems[0]


# ---------------------------------------------------------------------------------------------
# CSV files as Excel saves them (#12 §3)

JAPANESE_CSV = "アカウント,ASIN,商品ID,商品名\nshop,B0FGQJ45HW,101,ワイヤレスイヤホン\nshop,B07YV55TNL,102,モバイルバッテリー\n"


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("cp932", JAPANESE_CSV.encode("cp932")),  # Excel "CSV (コンマ区切り)" on Japanese Windows
        ("utf-8-sig", JAPANESE_CSV.encode("utf-8-sig")),  # Excel "CSV UTF-8"
        ("utf-8", JAPANESE_CSV.encode("utf-8")),
        ("utf-16", JAPANESE_CSV.replace(",", "\t").encode("utf-16")),  # Excel "Unicode テキスト"
    ],
)
def test_csv_in_every_encoding_excel_saves_with_japanese_column_names(tmp_path, encoding, data):
    path = tmp_path / "listings.csv"
    path.write_bytes(data)
    parsed = listings_from_csv(path, {"shop"})
    assert parsed.problems == []
    assert [(r.account_id, r.asin, r.base_item_id) for r in parsed.rows] == [
        ("shop", "B0FGQJ45HW", 101),
        ("shop", "B07YV55TNL", 102),
    ]


def test_csv_undecodable_lines_are_line_numbered_problems_and_the_rest_is_imported(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"account_id,asin,base_item_id\n"
        + b"shop,B0FGQJ45HW,101\n"
        + b"shop,B07YV55TNL,102,\x82\xa0\x81\x7f\n"  # line 3: neither UTF-8 nor CP932
        + "shop,B06Y69FKT2,１０３\n".encode()  # full-width digits, as typed in a Japanese IME
    )
    parsed = listings_from_csv(path, {"shop"})
    assert [(r.asin, r.base_item_id) for r in parsed.rows] == [("B0FGQJ45HW", 101), ("B06Y69FKT2", 103)]
    assert len(parsed.problems) == 1
    assert parsed.problems[0].startswith(f"{path}: line 3: cannot be read as UTF-8 or CP932")


def test_csv_encoding_can_be_forced_and_lines_it_cannot_decode_are_reported(tmp_path):
    path = tmp_path / "listings.csv"
    path.write_bytes(JAPANESE_CSV.encode("cp932"))
    parsed = listings_from_csv(path, {"shop"}, encoding="utf-8")
    assert parsed.rows == []
    assert [p.split(": ", 2)[1] for p in parsed.problems] == ["line 1", "line 2", "line 3"]
    assert "cannot be read as UTF-8" in parsed.problems[0]
    assert [r.asin for r in listings_from_csv(path, {"shop"}, encoding="cp932").rows] == [
        "B0FGQJ45HW",
        "B07YV55TNL",
    ]


def test_csv_missing_columns_say_exactly_which_names_are_expected(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("店舗,ASIN,番号\nshop,B0FGQJ45HW,1\n", encoding="utf-8")
    parsed = listings_from_csv(path, {"shop"})
    assert parsed.rows == []
    assert parsed.problems == [
        f"{path}: line 1: missing column(s) account_id, base_item_id; the header needs "
        "account_id (or account, アカウント, アカウントID), asin (or ASIN), "
        "base_item_id (or item_id, 商品ID); it has 店舗, ASIN, 番号"
    ]


def test_ten_digits_are_an_asin_only_with_a_valid_isbn10_check_digit():
    assert is_asin("4062938421") and is_asin("123456789X")
    assert not is_asin("4062938420") and not is_asin("1234567890")
    with pytest.raises(InvalidAsinError, match="'1234567890'.*ISBN-10 check digit"):
        normalize_asin("1234567890")


def test_the_import_report_says_which_identifiers_were_taken_as_isbns():
    items = [
        {"item_id": 11, "identifier": "4062938421", "price": 1300, "visible": 1},
        {"item_id": 12, "identifier": "1234567890", "price": 990, "visible": 1},  # a numeric SKU
        {"item_id": 13, "identifier": "B0FGQJ45HW", "price": 990, "visible": 1},
    ]
    parsed = listings_from_base_items("shop", items)
    assert [r.asin for r in parsed.rows] == ["4062938421", "B0FGQJ45HW"] and parsed.skipped == 1
    assert parsed.isbns == [
        "shop: item 11: identifier '4062938421' taken as the ISBN-10 (book ASIN) 4062938421"
    ]
