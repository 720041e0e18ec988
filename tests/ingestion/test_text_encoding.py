"""Which encoding a text file without a byte-order mark or a configured encoding is read in.

UTF-8 first; then a Central-European code page when the detector reads the text as such a language
over enough letters; then cp1252 (the usual spreadsheet export, and a superset of Latin-1's
letters) when the file reads in it as Western text; only other text goes to the charset detector,
which on a short Western file guessed Shift-JIS, Big5 or ISO-8859-10 and loaded garbage without a word.
"""

from __future__ import annotations

import codecs

import pytest

from cdp.warehouse import connect
from ingestion.parsing import decode_text_file
from ingestion.runner import ingest

HEADER = "email,first_name,last_name,city\n"
WESTERN = {
    "spanish-short": "Attendee Email\tGiven Name\tFamily Name\nn@x.es\tÍñigo\tNúñez\n",
    "spanish": HEADER + "n@x.es,Íñigo,Núñez,Logroño\nm@x.es,María José,Peña,Cádiz\n",
    "french-short": "email;first_name;last_name;city\nf@x.fr;Françoise;Lefèvre;Besançon\n",
    "french": HEADER + "f@x.fr,Françoise,Lefèvre,Besançon\ne@x.fr,Élodie,L'Hôte,Orléans\nz@x.fr,Zoë,Noël,Nîmes\n",
    "german": HEADER + "m@x.de,Jürgen,Müller,München\nz@x.de,Zoë,Weiß,Köln\ng@x.de,Günther,Straße,Düsseldorf\n",
    "german-caps": "EMAIL,FIRST,LAST\nA@X.DE,JÜRGEN,MÜLLER\n",
    "portuguese": HEADER + "j@x.pt,João,Conceição,Guimarães\na@x.br,Estêvão,Simões,São Paulo\n",
    "nordic": HEADER + "a@x.dk,Søren,Ærø,Århus\nb@x.no,Bjørn,Løvås,Tromsø\nc@x.se,Åsa,Öberg,Malmö\n",
    "one-letter": "email,first_name,last_name\nj@x.com,José,Garcia\n",
    "long": HEADER + "".join(
        f"p{i}@x.eu,{first},{last},{city}\n"
        for i, (first, last, city) in enumerate(
            [("Íñigo", "Núñez", "Logroño"), ("Françoise", "Lefèvre", "Besançon"), ("Jürgen", "Weiß", "Köln"),
             ("João", "Conceição", "Guimarães"), ("Søren", "Ærø", "Århus")] * 40
        )
    ),
}  # fmt: skip
CP1252_ONLY = {  # characters Latin-1 does not have
    "typography": "email,first_name,note\na@x.uk,Siân,paid £50 — thanks “in full” … O’Brien €12\n",
    "oe-ligature": "email,first_name,last_name\nb@x.fr,Œdipe,Cœur\n",
}


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
@pytest.mark.parametrize("sample", sorted(WESTERN))
def test_western_text_is_read_as_cp1252(tmp_path, sample, encoding):
    """cp1252 'Íñigo Núñez' was read as Shift-JIS ('ﾍ𠢹go N銲ez'), 'Françoise' as ISO-8859-10 ('Franįoise')."""
    path = tmp_path / "list.csv"
    path.write_bytes(WESTERN[sample].encode(encoding))
    assert decode_text_file(path) == (WESTERN[sample], "cp1252")


@pytest.mark.parametrize("sample", sorted(CP1252_ONLY))
def test_cp1252_typography_is_read_as_cp1252(tmp_path, sample):
    path = tmp_path / "list.csv"
    path.write_bytes(CP1252_ONLY[sample].encode("cp1252"))
    assert decode_text_file(path) == (CP1252_ONLY[sample], "cp1252")


SHORT_WESTERN = {  # read as Central-European, DOS or Japanese code pages, or by luck
    "acute-apostrophe": "Email,First Name,Last Name\nmaria@x.com,María,D´Angelo\nivan@x.com,Iván,Peña\n",
    "acute-apostrophe-alone": "Email,First Name,Last Name\nd@x.com,Señor,O´Brien\n",
    "opening-quote-apostrophe": "Email,First Name,Last Name\nd@x.com,Raúl,D‘Souza\n",
    "capitals-only": "Email,Name\na@x.com,ÆØÅ Ltd\n",
    "bullet": "Email,Note\na@x.com,VIP•gold\n",
    "em-dash": "Email,Note\nd@x.com,call back—urgent\n",
    "en-dash": "Email,First Name,Last Name\nj@x.com,Jean–Pierre,Dupont\n",
}


@pytest.mark.parametrize("sample", sorted(SHORT_WESTERN))
def test_short_cp1252_lists_with_apostrophe_signs_capitals_or_dashes_are_read_as_cp1252(tmp_path, sample):
    """'D´Angelo' and 'Peña' were read as ISO-8859-16 ('DŽAngelo', 'Peńa'), 'Señor O´Brien' as cp1250
    ('Seńor'), 'ÆØÅ Ltd' as Shift-JIS ('ﾆﾘﾅ Ltd'); a dash or bullet between words sent the file to
    the detector, which happened to name cp1250 (it reads those signs the same)."""
    path = tmp_path / "list.csv"
    path.write_bytes(SHORT_WESTERN[sample].encode("cp1252"))
    assert decode_text_file(path) == (SHORT_WESTERN[sample], "cp1252")


@pytest.mark.parametrize(
    ("prefix", "encoding", "expected"),
    [(b"", "utf-8", "utf-8"), (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
     (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be")],
)  # fmt: skip
def test_unicode_files_are_read_in_their_encoding(tmp_path, prefix, encoding, expected):
    text = WESTERN["nordic"] + "k@x.jp,山田,太郎,東京\n"
    path = tmp_path / "list.csv"
    path.write_bytes(prefix + text.encode(encoding))
    assert decode_text_file(path) == (text, expected)


NON_LATIN = {
    "cp1251": HEADER + "a@x.ru,Иван,Петров,Москва\nb@x.ru,Мария,Соколова,Санкт-Петербург\n"
    "c@x.ru,Ян,Ли,Казань\nd@x.ru,Ольга,Смирнова,Новосибирск\n",
    "cp1253": HEADER + "a@x.gr,Γιώργος,Παπαδόπουλος,Αθήνα\nb@x.gr,Νίκος,Οικονόμου,Θεσσαλονίκη\n",
    "shift_jis": HEADER + "a@x.jp,山田,太郎,東京都新宿区\nb@x.jp,鈴木,花子,大阪府大阪市北区\n"
    "c@x.jp,佐藤,健一,京都府京都市左京区\nd@x.jp,高橋,美咲,北海道札幌市中央区\n",
}


@pytest.mark.parametrize("encoding", sorted(NON_LATIN))
def test_text_in_another_script_keeps_its_detected_encoding(tmp_path, encoding):
    """Cyrillic in cp1251 reads in cp1252 as accented letters ('Èâàí'): whole words of them, not Latin text."""
    path = tmp_path / "list.csv"
    path.write_bytes(NON_LATIN[encoding].encode(encoding))
    text, used = decode_text_file(path)
    assert text == NON_LATIN[encoding]
    assert used != "cp1252"  # the detector's (for Shift-JIS it may name cp932, its superset)


@pytest.mark.parametrize("name", ["山田 太郎", "さとう", "東京"])
def test_a_short_japanese_list_is_still_read_in_its_encoding(tmp_path, name):
    """Latin capitals are kept from a CJK reading (see above), Japanese text in Shift-JIS is not."""
    text = f"Email,Name\na@x.jp,{name}\n"
    path = tmp_path / "list.csv"
    path.write_bytes(text.encode("shift_jis"))
    assert decode_text_file(path)[0] == text


def test_short_western_exports_load_as_written_in_lists_and_call_exports(settings):
    settings.csv_landing_dir.mkdir(parents=True)
    settings.call_center_landing_dir.mkdir(parents=True)
    (settings.csv_landing_dir / "event_leads__es.csv").write_bytes(WESTERN["spanish-short"].encode("cp1252"))
    (settings.csv_landing_dir / "newsletter__fr.csv").write_bytes(
        "Email Address;First Name;Last Name\nf@x.fr;Françoise;Lefèvre\n".encode("latin-1")
    )
    (settings.call_center_landing_dir / "calls-2026-11-20.csv").write_bytes(
        "call_id,caller_first_name,caller_last_name,updated_at\nc-1,Íñigo,Núñez,2026-11-01T10:00:00Z\n".encode(
            "cp1252"
        )
    )
    ingest(settings, "run-1", "csv")
    ingest(settings, "run-1", "call_center")
    with connect(settings, read_only=True) as con:
        contacts = con.execute("SELECT email, first_name, last_name FROM raw.csv_contacts ORDER BY 1").fetchall()
        calls = con.execute("SELECT caller_first_name, caller_last_name FROM raw.call_center_calls").fetchall()
    assert contacts == [("f@x.fr", "Françoise", "Lefèvre"), ("n@x.es", "Íñigo", "Núñez")]
    assert calls == [("Íñigo", "Núñez")]


CENTRAL_EUROPEAN = {
    "czech": ("cp1250", ["Jiří Dvořák", "Tomáš Černý", "Zdeněk Růžička", "Hana Němcová", "Věra Křížová", "Petr Novák"],
              ["Plzeň", "České Budějovice", "Hradec Králové", "Brno"]),
    "croatian": ("cp1250", ["Marija Kovačević", "Luka Babić", "Josip Đurđević", "Tomislav Šarić", "Ivan Horvat"],
                 ["Zagreb", "Čakovec", "Šibenik", "Varaždin"]),
    "hungarian": ("cp1250", ["Kovács Éva", "Szűcs Ödön", "Fülöp Lőrinc", "Balogh Gyöngyi", "Nagy László"],
                  ["Debrecen", "Győr", "Nyíregyháza", "Kecskemét"]),
    "polish": ("cp1250", ["Katarzyna Wiśniewska", "Michał Szymański", "Małgorzata Woźniak", "Łukasz Dąbrowski",
                          "Anna Nowak"], ["Łódź", "Wrocław", "Poznań", "Gdańsk"]),
}


@pytest.mark.parametrize("language", sorted(CENTRAL_EUROPEAN))
def test_a_central_european_list_keeps_its_letters(tmp_path, language):
    # "Kovačević" in cp1250 reads in cp1252 as "Kovaèeviæ", Latin text too: cp1252 first made every
    # such list garbage, without a word (the detector had read Croatian and Slovene right).
    encoding, names, cities = CENTRAL_EUROPEAN[language]
    body = "name,email,city\n" + "".join(
        f"{names[i % len(names)]},u{i}@example.com,{cities[i % len(cities)]}\n" for i in range(200)
    )
    path = tmp_path / f"{language}.csv"
    path.write_bytes(body.encode(encoding))
    text, used = decode_text_file(path)
    assert text == body
    assert codecs.lookup(used).name == codecs.lookup(encoding).name


@pytest.mark.parametrize("text", ["2026-11-23t10:00:00z", "2026-11-23T10:00:00z", "2026-11-23t12:00:00+02:00"])
def test_rfc3339_lower_case_t_and_z_are_timestamps(text):
    """RFC 3339 allows a lower-case t and z; parsing.timestamp (the call-center loader's) refused
    them as invalid-timestamp."""
    from datetime import datetime

    from ingestion.parsing import timestamp

    assert timestamp(text, "started_at") == datetime(2026, 11, 23, 10)
