#!/usr/bin/env python3
"""Generate tests/data/pii_corpus.jsonl: a labelled corpus of personal-data
spellings ("pii" rows) and of look-alikes that are NOT personal data
("benign" rows), in en, pt, it, es, fr and de, for measuring a masker.

Requires the `phonenumbers` package at generation time (pip install phonenumbers):
every phone number is checked with phonenumbers.is_valid_number; the script stops
with an error if the package is missing. Everything else is the standard library.

    python3 scripts/pii_corpus.py          # writes tests/data/pii_corpus.jsonl

The labels are ground truth written independently of any masker: every value is
checked here (Luhn, ISO 13616 mod-97 plus national check digits, CPF/CNPJ, codice
fiscale, DNI/NIE, NIF, NIR, Steuer-ID, SSN, NI number, libphonenumber validity,
e-mail syntax and IDNA), every value must occur exactly once, verbatim, in its
text, and every text is scanned: a pii row may hold no other checksum-valid or
libphonenumber-valid item besides its values; a benign row may hold no
checksum-valid item at all (numbers that libphonenumber's matcher would take for a
phone, e.g. some dates, are kept there as hard negatives and listed when run).

The output is deterministic: a fixed seed, no iteration over sets, the same file
on every run (given the same phonenumbers metadata; generated with 9.0.43).
"""
import datetime
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

try:
    import phonenumbers
    from phonenumbers import Leniency, PhoneNumberFormat as PNF, PhoneNumberMatcher, PhoneNumberType as PNT
except ImportError:  # pragma: no cover
    sys.stderr.write("error: scripts/pii_corpus.py needs the 'phonenumbers' package: pip install phonenumbers\n")
    sys.exit(2)

SEED = 13616
rng = random.Random(SEED)
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "pii_corpus.jsonl"
LANGS = ["en", "pt", "it", "es", "fr", "de"]
PII_CATS = ["EMAIL", "PHONE", "CARD", "IBAN", "ID", "NAME"]
PII_PER_CELL = 13          # rows per (category, language): 13 * 6 * 6 = 468 pii rows
BENIGN_PER_LANG = 84       # 84 * 6 = 504 benign rows
NBSP, NNBSP, ENDASH = "\u00a0", "\u202f", "\u2013"


class GenError(Exception):
    pass


def rdigits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def fullwidth(s):
    out = []
    for c in s:
        if "0" <= c <= "9":
            out.append(chr(0xFF10 + ord(c) - 48))
        elif c == "+":
            out.append("\uFF0B")
        else:
            out.append(c)
    return "".join(out)


def norm_digits(s):
    """All decimal digits of s (any script, e.g. full-width), as ASCII."""
    return "".join(str(unicodedata.decimal(c)) for c in s if unicodedata.decimal(c, None) is not None)


def fold(s):
    """ASCII-fold a name for e-mail local parts."""
    s = s.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("'", "")
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def group(s, sizes):
    out, i = [], 0
    for n in sizes:
        out.append(s[i:i + n])
        i += n
    if i < len(s):
        out.append(s[i:])
    return [g for g in out if g]


def group4(s):
    return [s[i:i + 4] for i in range(0, len(s), 4)]


# ---------------------------------------------------------------------------
# Check-digit schemes and validators
# ---------------------------------------------------------------------------

def luhn_ok(d):
    if not d.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = ord(ch) - 48
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def luhn_complete(partial):
    for c in "0123456789":
        if luhn_ok(partial + c):
            return partial + c
    raise GenError("luhn")


CARD_BRANDS = ["visa16", "mastercard", "mastercard2", "amex", "discover", "diners", "visa19", "maestro19"]


def card_brand_of(d):
    n = len(d)
    if n == 16 and d[0] == "4":
        return "visa16"
    if n == 19 and d[0] == "4":
        return "visa19"
    if n == 16 and 51 <= int(d[:2]) <= 55:
        return "mastercard"
    if n == 16 and 2221 <= int(d[:4]) <= 2720:
        return "mastercard2"
    if n == 15 and d[:2] in ("34", "37"):
        return "amex"
    if n == 16 and (d.startswith("6011") or d.startswith("65") or 644 <= int(d[:3]) <= 649):
        return "discover"
    if n == 14 and (d[:2] in ("36", "38") or 300 <= int(d[:3]) <= 305):
        return "diners"
    if n == 19 and d[:4] in ("6759", "5018", "5020", "5038", "6304"):
        return "maestro19"
    return None


def card_ok(value):
    d = norm_digits(value)
    return luhn_ok(d) and card_brand_of(d) is not None


IBAN_LEN = {"DE": 22, "FR": 27, "IT": 27, "ES": 24, "PT": 25, "GB": 22, "NL": 18,
            "BE": 16, "CH": 21, "AT": 20, "BR": 29, "IE": 22}


def _iban_int(s):
    return int("".join(str(int(c, 36)) for c in s))


def iban_from_bban(cc, bban):
    chk = 98 - _iban_int(bban + cc + "00") % 97
    return f"{cc}{chk:02d}{bban}"


# Italian CIN / codice fiscale tables (same odd/even values).
_CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]


def _cf_val(c, odd):
    idx = int(c) if c.isdigit() else ord(c) - 65
    return _CF_ODD[idx] if odd else idx


def it_check_char(s):
    return chr(65 + sum(_cf_val(c, i % 2 == 0) for i, c in enumerate(s)) % 26)


ES_W = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]


def es_dc(ten):
    v = 11 - sum(int(c) * w for c, w in zip(ten, ES_W)) % 11
    return str({11: 0, 10: 1}.get(v, v))


def nl_elfproef(acct):
    return sum(int(c) * (10 - i) for i, c in enumerate(acct)) % 11 == 0


def iban_national_ok(s):
    cc, b = s[:2], s[4:]
    if cc == "FR":
        if not b[:21].isdigit() or not b[21:].isdigit():
            return False
        return (89 * int(b[:5]) + 15 * int(b[5:10]) + 3 * int(b[10:21]) + int(b[21:23])) % 97 == 0
    if cc == "IT":
        return b[0] == it_check_char(b[1:])
    if cc == "ES":
        return b[8:10] == es_dc("00" + b[:8]) + es_dc(b[10:])
    if cc == "PT":
        return int(b) % 97 == 1
    if cc == "BE":
        return (int(b[:10]) % 97 or 97) == int(b[10:])
    if cc == "NL":
        return nl_elfproef(b[4:])
    return True


IBAN_SHAPE = {"DE": r"\d{18}", "FR": r"\d{23}", "IT": r"[A-Z]\d{10}[0-9A-Z]{12}", "ES": r"\d{20}",
              "PT": r"\d{21}", "GB": r"[A-Z]{4}\d{14}", "NL": r"[A-Z]{4}\d{10}", "BE": r"\d{12}",
              "CH": r"\d{5}[0-9A-Z]{12}", "AT": r"\d{16}", "BR": r"\d{23}[A-Z][0-9A-Z]",
              "IE": r"[A-Z]{4}\d{14}"}


def iban_ok(value):
    s = re.sub(r"\s", "", value).upper()
    cc = s[:2]
    if cc not in IBAN_LEN or len(s) != IBAN_LEN[cc] or not s[2:4].isdigit():
        return False
    if not re.fullmatch(IBAN_SHAPE[cc], s[4:]):
        return False
    return _iban_int(s[4:] + s[:4]) % 97 == 1 and iban_national_ok(s)


def iban_mod97_ok(compact):
    try:
        return _iban_int(compact[4:] + compact[:4]) % 97 == 1
    except ValueError:
        return False


def cpf_digits(nine):
    d = [int(c) for c in nine]
    r = sum(x * (10 - i) for i, x in enumerate(d)) * 10 % 11 % 10
    d.append(r)
    r = sum(x * (11 - i) for i, x in enumerate(d)) * 10 % 11 % 10
    d.append(r)
    return "".join(map(str, d))


def cpf_ok(value):
    d = norm_digits(value)
    return len(d) == 11 and len(set(d)) > 1 and cpf_digits(d[:9]) == d


CNPJ_W1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
CNPJ_W2 = [6] + CNPJ_W1


def cnpj_digits(twelve):
    d = [int(c) for c in twelve]
    for w in (CNPJ_W1, CNPJ_W2):
        r = sum(x * y for x, y in zip(d, w)) % 11
        d.append(0 if r < 2 else 11 - r)
    return "".join(map(str, d))


def cnpj_ok(value):
    d = norm_digits(value)
    return len(d) == 14 and len(set(d)) > 1 and cnpj_digits(d[:12]) == d


def nif_check(eight):
    r = sum(int(c) * (9 - i) for i, c in enumerate(eight)) % 11
    return "0" if r < 2 else str(11 - r)


def nif_ok(value):
    d = norm_digits(value)
    return len(d) == 9 and d[0] in "123568" and nif_check(d[:8]) == d[8]


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(value):
    s = re.sub(r"[\s.\-]", "", value).upper()
    m = re.fullmatch(r"([XYZ]?)(\d{7,8})([A-Z])", s)
    if not m:
        return False
    pre, num, letter = m.groups()
    if pre:
        if len(num) != 7:
            return False
        num = str("XYZ".index(pre)) + num
    elif len(num) != 8:
        return False
    return DNI_LETTERS[int(num) % 23] == letter


CF_MONTHS = "ABCDEHLMPRST"


def cf_ok(value):
    s = re.sub(r"\s", "", value).upper()
    if not re.fullmatch(r"[A-Z]{6}\d{2}[ABCDEHLMPRST]\d{2}[A-Z]\d{3}[A-Z]", s):
        return False
    day = int(s[9:11])
    if not (1 <= day <= 31 or 41 <= day <= 71):
        return False
    return it_check_char(s[:15]) == s[15]


def nir_ok(value):
    d = norm_digits(value)
    if len(d) != 15 or d[0] not in "12" or not (1 <= int(d[3:5]) <= 12):
        return False
    return 97 - int(d[:13]) % 97 == int(d[13:])


def steuer_check(ten):
    product = 10
    for c in ten:
        s = (int(c) + product) % 10
        if s == 0:
            s = 10
        product = (s * 2) % 11
    chk = 11 - product
    return "0" if chk == 10 else str(chk)


def steuer_ok(value):
    d = norm_digits(value)
    if len(d) != 11 or d[0] == "0":
        return False
    counts = Counter(d[:10])
    multi = [k for k, v in counts.items() if v > 1]
    if len(multi) != 1 or counts[multi[0]] not in (2, 3):
        return False
    return steuer_check(d[:10]) == d[10]


def ssn_ok(value):
    m = re.fullmatch(r"(\d{3})[- ]?(\d{2})[- ]?(\d{4})", value)
    if not m:
        return False
    a, g, s = m.groups()
    return a not in ("000", "666") and a[0] != "9" and g != "00" and s != "0000"


NINO_BAD_PREFIX = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def nino_ok(value):
    s = re.sub(r"\s", "", value).upper()
    m = re.fullmatch(r"([A-Z])([A-Z])\d{6}([A-D])", s)
    if not m:
        return False
    a, b, _ = m.groups()
    return a not in "DFIQUV" and b not in "DFIOQUV" and a + b not in NINO_BAD_PREFIX


EMAIL_RE = re.compile(r"(?!\.)(?!.*\.\.)[\w.+\-]+(?<!\.)@((?:[^\W_](?:[\w\-]*[^\W_])?\.)+[^\W\d_]{2,})")


def email_ok(value):
    m = EMAIL_RE.fullmatch(value)
    if not m:
        return False
    try:
        ascii_domain = m.group(1).encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return len(value) <= 254 and len(value.split("@")[0]) <= 64 and "--" not in ascii_domain.replace("xn--", "")


def phone_ok(value, expected):
    v = unicodedata.normalize("NFKC", value).replace(ENDASH, "-").replace("_", " ")
    region = phonenumbers.region_code_for_number(expected)
    if v.lstrip("(").startswith("00"):
        region = "DE"  # any region whose international call prefix is 00
    p = phonenumbers.parse(v, region)
    return (phonenumbers.is_valid_number(p) and p.country_code == expected.country_code
            and p.national_number == expected.national_number)


# ---------------------------------------------------------------------------
# Value generators (each returns (value, spelling) and validates the value)
# ---------------------------------------------------------------------------

def gen_card_digits(brand):
    if brand == "visa16":
        pre, n = "4", 16
    elif brand == "visa19":
        pre, n = "4", 19
    elif brand == "mastercard":
        pre, n = str(rng.randint(51, 55)), 16
    elif brand == "mastercard2":
        pre, n = str(rng.randint(2221, 2720)), 16
    elif brand == "amex":
        pre, n = rng.choice(["34", "37"]), 15
    elif brand == "discover":
        pre, n = rng.choice(["6011", "65", str(rng.randint(644, 649))]), 16
    elif brand == "diners":
        pre, n = rng.choice(["36", str(rng.randint(300, 305))]), 14
    else:  # maestro19
        pre, n = rng.choice(["6759", "5018", "5020", "6304"]), 19
    d = luhn_complete(pre + rdigits(n - len(pre) - 1))
    assert card_brand_of(d) == brand, (brand, d)
    return d


def card_groups(d):
    if len(d) == 15:
        return group(d, [4, 6, 5])
    if len(d) == 14:
        return group(d, [4, 6, 4])
    return group4(d)


CARD_FORMS = ["spaced", "plain", "dash", "dots", "slash", "double_space", "nbsp", "nnbsp", "fullwidth", "mixed"]


def gen_card(form, brand):
    d = gen_card_digits(brand)
    g = card_groups(d)
    if form == "plain":
        v = d
    elif form == "spaced":
        v = " ".join(g)
    elif form == "dash":
        v = "-".join(g)
    elif form == "dots":
        v = ".".join(g)
    elif form == "slash":
        v = "/".join(g)
    elif form == "double_space":
        v = "  ".join(g)
    elif form == "nbsp":
        v = NBSP.join(g)
    elif form == "nnbsp":
        v = NNBSP.join(g)
    elif form == "fullwidth":
        v = fullwidth(rng.choice([d, " ".join(g)]))
    elif form == "mixed":
        while True:
            seps = [rng.choice([" ", "-", NBSP, "  ", "."]) for _ in g[1:]]
            if len(set(seps)) >= 2:
                break
        v = g[0] + "".join(s + x for s, x in zip(seps, g[1:]))
    else:
        raise GenError(form)
    if not card_ok(v):
        raise GenError(f"card {v!r}")
    return v, form


DE_BLZ = ["37040044", "50010517", "10020890", "20041133", "70150000", "50070010", "43060967", "12030000"]
FR_BANKS = ["30004", "30003", "20041", "30002", "10278", "18206", "11315"]
IT_ABI = ["03069", "02008", "05034", "03062", "01030", "05387"]
ES_ENT = ["2100", "0049", "0182", "2038", "0081", "1465"]
PT_BANKS = ["0035", "0033", "0010", "0007", "0036", "0018"]


def gen_bban(cc):
    if cc == "DE":
        return rng.choice(DE_BLZ) + rdigits(10)
    if cc == "FR":
        bank, branch, acct = rng.choice(FR_BANKS), rdigits(5), rdigits(11)
        key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(acct)) % 97
        return f"{bank}{branch}{acct}{key:02d}"
    if cc == "IT":
        body = rng.choice(IT_ABI) + rdigits(5) + rdigits(12)
        return it_check_char(body) + body
    if cc == "ES":
        ent, ofi, acct = rng.choice(ES_ENT), rdigits(4), rdigits(10)
        return ent + ofi + es_dc("00" + ent + ofi) + es_dc(acct) + acct
    if cc == "PT":
        base = rng.choice(PT_BANKS) + rdigits(4) + rdigits(11)
        return base + f"{98 - int(base + '00') % 97:02d}"
    if cc in ("GB", "IE"):
        banks = ["NWBK", "BARC", "HBUK", "LOYD", "MIDL"] if cc == "GB" else ["AIBK", "BOFI"]
        return rng.choice(banks) + rdigits(6) + rdigits(8)
    if cc == "NL":
        while True:
            acct = str(rng.randint(1, 9)) + rdigits(8)
            acct = "0" + acct
            if nl_elfproef(acct):
                return rng.choice(["ABNA", "RABO"]) + acct
    if cc == "BE":
        base = rng.choice(["001", "068", "310", "539", "063", "735"]) + rdigits(7)
        return base + f"{int(base) % 97 or 97:02d}"
    if cc == "CH":
        return rng.choice(["00762", "00230", "09000", "00700"]) + rdigits(12)
    if cc == "AT":
        return rng.choice(["12000", "20111", "60000", "32000"]) + rdigits(11)
    if cc == "BR":
        return rng.choice(["00000000", "60701190", "00360305", "90400888"]) + rdigits(5) + rdigits(10) + rng.choice("CP") + "1"
    raise GenError(cc)


IBAN_FORMS = ["spaced", "compact", "lowercase", "nbsp", "lowercase_spaced"]


def gen_iban(cc, form):
    iban = iban_from_bban(cc, gen_bban(cc))
    if form == "compact":
        v = iban
    elif form == "spaced":
        v = " ".join(group4(iban))
    elif form == "lowercase":
        v = iban.lower()
    elif form == "lowercase_spaced":
        v = " ".join(group4(iban.lower()))
    elif form == "nbsp":
        v = NBSP.join(group4(iban))
    else:
        raise GenError(form)
    if not iban_ok(v):
        raise GenError(f"iban {v!r}")
    return v, form


# Phones -------------------------------------------------------------------

def _nsn_candidates(region, kind):
    d = rdigits
    if region == "US":
        area = rng.choice(["212", "312", "415", "617", "305", "206", "512", "702", "404", "646", "213", "303", "718", "617"])
        while True:
            exch = str(rng.randint(2, 9)) + d(2)
            if exch[1:] != "11" and exch != "555":
                break
        return area + exch + d(4)
    if region == "GB":
        if kind == "mobile":
            return "7" + rng.choice("45789") + d(8)
        return rng.choice(["20" + rng.choice("378") + d(7), "161" + rng.choice("2345789") + d(6),
                           "131" + rng.choice("2345") + d(6), "113" + rng.choice("2345") + d(6)])
    if region == "BR":
        ddd = rng.choice(["11", "21", "31", "41", "51", "61", "71", "81", "85", "48", "19", "27"])
        if kind == "mobile":
            return ddd + "9" + rng.choice("6789") + d(7)
        return ddd + rng.choice("234") + d(7)
    if region == "IT":
        if kind == "mobile":
            return "3" + rng.choice(["20", "27", "28", "29", "30", "31", "33", "34", "35", "36", "38", "39", "40",
                                     "45", "46", "47", "48", "49", "66", "68", "80", "88", "89", "91", "92", "93"]) + d(7)
        return rng.choice(["06" + d(8), "02" + d(8), "011" + d(7), "055" + d(7), "081" + d(7), "051" + d(7)])
    if region == "PT":
        if kind == "mobile":
            return "9" + rng.choice("1236") + d(7)
        return rng.choice(["21", "22"]) + d(7)
    if region == "ES":
        if kind == "mobile":
            return rng.choice(["6" + d(8), "7" + rng.choice("1234") + d(7)])
        return rng.choice(["91", "93", "96", "95", "94"]) + d(7)
    if region == "FR":
        if kind == "mobile":
            return rng.choice(["6" + d(8), "7" + rng.choice("3456789") + d(7)])
        return rng.choice("12345") + d(8)
    if region == "DE":
        if kind == "mobile":
            return rng.choice(["151" + d(8), "160" + d(7), "170" + d(7), "171" + d(7), "176" + d(8),
                               "157" + d(8), "162" + d(7), "172" + d(7), "175" + d(7), "152" + d(8)])
        return rng.choice(["30" + d(8), "89" + d(7), "40" + d(8), "69" + d(8), "221" + d(7), "211" + d(7)])
    raise GenError(region)


PHONE_TYPES = {"mobile": (PNT.MOBILE, PNT.FIXED_LINE_OR_MOBILE), "fixed": (PNT.FIXED_LINE, PNT.FIXED_LINE_OR_MOBILE)}


def gen_phone_number(region, kind):
    cc = phonenumbers.country_code_for_region(region)
    for _ in range(500):
        nsn = _nsn_candidates(region, kind)
        p = phonenumbers.parse(f"+{cc}{nsn}")
        if phonenumbers.is_valid_number(p) and phonenumbers.number_type(p) in PHONE_TYPES[kind] \
                and phonenumbers.region_code_for_number(p) == region:
            return p
    raise GenError(f"no valid {region} {kind} number")


PHONE_HOME_FORMS = ["national", "intl", "intl_00", "plain", "dash", "dots", "slash", "en_dash", "underscore",
                    "nbsp", "double_space", "parentheses", "fullwidth", "digit_by_digit"]
PHONE_FOREIGN_FORMS = ["intl", "intl_00", "parentheses", "nbsp", "plain", "dash"]


def _groups(s):
    return re.findall(r"\+?\d+", s)


def spell_phone(p, form, foreign):
    region = phonenumbers.region_code_for_number(p)
    nat = phonenumbers.format_number(p, PNF.NATIONAL)
    intl = phonenumbers.format_number(p, PNF.INTERNATIONAL)
    ng, ig = _groups(nat), _groups(intl)
    base_g = ig if foreign else ng
    tag = form
    if form == "national":
        v = nat
        if region == "ES" and rng.random() < 0.5:
            v = " ".join(group(norm_digits(nat), [3, 3, 3]))   # 612 345 678
            tag = "national_3_3_3"
        if "(" in v:
            tag = "parentheses"
    elif form == "intl":
        v = intl
    elif form == "intl_00":
        v = "00" + intl[1:]
    elif form == "plain":
        v = phonenumbers.format_number(p, PNF.E164) if (foreign or rng.random() < 0.4) else "".join(ng)
    elif form == "dash":
        v = "-".join(base_g)
    elif form == "dots":
        v = ".".join(base_g)
    elif form == "slash":
        v = base_g[0] + "/" + " ".join(base_g[1:])
    elif form == "en_dash":
        v = ENDASH.join(base_g)
    elif form == "underscore":
        v = "_".join(base_g)
    elif form == "nbsp":
        v = NBSP.join(ig if (foreign or rng.random() < 0.5) else ng)
    elif form == "double_space":
        v = "  ".join(base_g)
    elif form == "parentheses":
        if region in ("US", "BR"):
            v = nat if not foreign else f"+{p.country_code} ({ig[1]}) " + " ".join(ig[2:])
            if region == "US" and foreign:
                v = f"+1 ({ig[1]}) {ig[2]}-{ig[3]}"
            if region == "BR" and foreign:
                v = f"+55 ({ig[1]}) {ig[2]}-{ig[3]}"
        elif region in ("GB", "DE", "FR"):
            if foreign or rng.random() < 0.6:
                v = f"+{p.country_code} (0)" + " ".join(ig[1:])
            else:
                v = f"({ng[0]}) " + " ".join(ng[1:])
        else:  # IT, ES, PT keep the leading digit; "(+39) 347 123 4567"
            rest = ig[1:]
            if region in ("ES", "PT"):
                rest = group(norm_digits("".join(rest)), [3, 3, 3])
            v = f"(+{p.country_code}) " + " ".join(rest)
    elif form == "fullwidth":
        v = fullwidth(rng.choice([nat, intl]))
    elif form == "digit_by_digit":
        v = " ".join("".join(ng))
    else:
        raise GenError(form)
    if not phone_ok(v, p):
        raise GenError(f"phone {v!r} ({form}) is not {intl}")
    return v, tag


def gen_phone(region, kind, form, foreign):
    if region == "US" and form == "intl_00" and not foreign:
        form = "intl"  # Americans do not write their own number as 001 ...
    p = gen_phone_number(region, kind)
    return spell_phone(p, form, foreign)


# Names --------------------------------------------------------------------
# (full name, type, gender)
NAMES = {
    "en": [("Peter Jensen", "plain", "M"), ("Sarah Mitchell", "plain", "F"), ("James Walker", "plain", "M"),
           ("Emily Clarke", "plain", "F"), ("Daniel Hughes", "plain", "M"), ("Priya Patel", "plain", "F"),
           ("Siobhan O'Connor", "apostrophe", "F"), ("Liam O'Brien", "apostrophe", "M"),
           ("Mary-Kate Jones", "hyphenated", "F"), ("Rhys Evans-Lloyd", "hyphenated", "M"),
           ("Anna van Dijk", "particle", "F"), ("Robert de Souza", "particle", "M"),
           ("Mary Ellen Carter", "three_words", "F"), ("John Paul Reid", "three_words", "M"),
           ("Zoë Harper", "accented", "F"), ("Renée Walsh", "accented", "F"), ("André Cole", "accented", "M"),
           ("Grace", "single_word", "F"), ("Tom", "single_word", "M")],
    "pt": [("Ana Souza", "plain", "F"), ("Pedro Almeida", "plain", "M"), ("Mariana Costa", "plain", "F"),
           ("Rafael Lima", "plain", "M"), ("Beatriz Rocha", "plain", "F"),
           ("João Gonçalves", "accented", "M"), ("Inês Araújo", "accented", "F"),
           ("Sebastião Conceição", "accented", "M"), ("Letícia Simões", "accented", "F"),
           ("Maria da Silva", "particle", "F"), ("José dos Santos", "particle", "M"),
           ("Ana de Souza", "particle", "F"), ("Tiago de Sá", "particle", "M"),
           ("Maria Eduarda Ribeiro", "three_words", "F"), ("João Pedro Carvalho", "three_words", "M"),
           ("Ana-Sofia Lopes", "hyphenated", "F"),
           ("Gonçalo", "single_word", "M"), ("Juliana", "single_word", "F")],
    "it": [("Marco Rossi", "plain", "M"), ("Giulia Bianchi", "plain", "F"), ("Luca Colombo", "plain", "M"),
           ("Chiara Ricci", "plain", "F"), ("Francesca Romano", "plain", "F"),
           ("Niccolò Ferri", "accented", "M"), ("Lucrezia Sciarrà", "accented", "F"),
           ("Andrea D'Amico", "apostrophe", "M"),
           ("Giuseppe De Luca", "particle", "M"), ("Elena Di Stefano", "particle", "F"),
           ("Paolo La Rosa", "particle", "M"),
           ("Maria Grazia Conti", "three_words", "F"), ("Gian Marco Ferrara", "three_words", "M"),
           ("Matteo", "single_word", "M"), ("Sofia", "single_word", "F")],
    "es": [("Pablo Ortega", "plain", "M"), ("Carmen Ruiz", "plain", "F"), ("Javier Moreno", "plain", "M"),
           ("Sara Molina", "plain", "F"),
           ("Lucía Fernández", "accented", "F"), ("Íñigo Martínez", "accented", "M"),
           ("Begoña Núñez", "accented", "F"), ("Raúl Muñoz", "accented", "M"),
           ("Lucía del Río", "particle", "F"), ("Álvaro de Castro", "particle", "M"),
           ("María José López", "three_words", "F"), ("José Luis García", "three_words", "M"),
           ("Ana Gómez Pérez", "three_words", "F"),
           ("Elena Sánchez-Vidal", "hyphenated", "F"), ("Jorge Ruiz-Tagle", "hyphenated", "M"),
           ("Nacho", "single_word", "M"), ("Marta", "single_word", "F")],
    "fr": [("Julien Moreau", "plain", "M"), ("Claire Martin", "plain", "F"), ("Thomas Girard", "plain", "M"),
           ("Françoise Dubois", "accented", "F"), ("Hélène Lefèvre", "accented", "F"),
           ("Benoît Rousseau", "accented", "M"), ("Éloïse Faure", "accented", "F"),
           ("Gaëlle Chevalier", "accented", "F"),
           ("Anne-Marie Dupont", "hyphenated", "F"), ("Jean-Luc Bernard", "hyphenated", "M"),
           ("Marie-Hélène Roux", "hyphenated", "F"),
           ("Charles de Villiers", "particle", "M"), ("Louise Le Gall", "particle", "F"),
           ("Jean-Baptiste de Lacroix", "three_words", "M"), ("Marie Claire Durand", "three_words", "F"),
           ("Théo", "single_word", "M"), ("Manon", "single_word", "F")],
    "de": [("Lukas Becker", "plain", "M"), ("Anna Schmidt", "plain", "F"), ("Felix Wagner", "plain", "M"),
           ("Laura Hoffmann", "plain", "F"),
           ("Jürgen Müller", "accented", "M"), ("Björn Schröder", "accented", "M"),
           ("Sophie Köhler", "accented", "F"), ("Jörg Weiß", "accented", "M"),
           ("Karl-Heinz Wolff", "hyphenated", "M"), ("Anna-Lena Krüger", "hyphenated", "F"),
           ("Anna von Arnim", "particle", "F"), ("Moritz von Bülow", "particle", "M"),
           ("Hans Peter Schulz", "three_words", "M"), ("Eva Maria Keller", "three_words", "F"),
           ("Jonas", "single_word", "M"), ("Mia", "single_word", "F")],
}


def name_types(lang):
    out = []
    for _, t, _ in NAMES[lang]:
        if t not in out:
            out.append(t)
    out.append("lowercase")
    return out


def pick_name(lang, ntype=None, gender=None, multiword=False):
    pool = NAMES[lang]
    want = ntype
    if ntype == "lowercase":
        want = None
        pool = [n for n in pool if n[1] in ("plain", "accented", "particle", "three_words")]
    cands = [n for n in pool if (want is None or n[1] == want) and (gender is None or n[2] == gender)
             and (not multiword or " " in n[0])]
    if not cands:
        cands = [n for n in pool if (gender is None or n[2] == gender) and (not multiword or " " in n[0])]
    name, t, g = rng.choice(cands)
    if ntype == "lowercase":
        name, t = name.lower(), "lowercase"
    return name, t, g


# E-mails ------------------------------------------------------------------
PROVIDERS = {
    "en": ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.co.uk", "btinternet.com", "proton.me"],
    "pt": ["gmail.com", "hotmail.com", "sapo.pt", "uol.com.br", "bol.com.br", "terra.com.br", "outlook.pt"],
    "it": ["gmail.com", "libero.it", "virgilio.it", "tiscali.it", "alice.it", "hotmail.it"],
    "es": ["gmail.com", "hotmail.es", "yahoo.es", "telefonica.net", "outlook.es"],
    "fr": ["orange.fr", "free.fr", "laposte.net", "sfr.fr", "wanadoo.fr", "gmail.com"],
    "de": ["gmx.de", "web.de", "t-online.de", "posteo.de", "gmail.com", "outlook.de"],
}
SUBDOMAINS = {
    "en": ["students.ucl.ac.uk", "mail.utoronto.ca", "eng.acme-corp.com", "uk.ibm.com"],
    "pt": ["alunos.fc.ul.pt", "usp.br", "aluno.unb.br", "mail.empresa.com.br"],
    "it": ["studenti.unimi.it", "mail.polimi.it", "pec.studiolegale.it", "uniroma1.it"],
    "es": ["alumnos.upm.es", "estudiante.uam.es", "correo.ugr.es"],
    "fr": ["etu.univ-lyon1.fr", "etudiant.univ-rennes.fr", "mail.cnrs.fr"],
    "de": ["stud.uni-heidelberg.de", "campus.lmu.de", "mail.tu-berlin.de"],
}
EAI_DOMAINS = {  # non-ASCII local parts: own/company domains
    "en": ["example.com", "harper-design.co.uk"],
    "pt": ["exemplo.com.br", "empresa.pt"],
    "it": ["esempio.it", "studio-ferri.it"],
    "es": ["ejemplo.es", "correo.es"],
    "fr": ["exemple.fr", "cabinet-dubois.fr"],
    "de": ["beispiel.de", "mueller-bau.de"],
}
IDN_DOMAINS = {
    "en": ["naïve-design.co.uk", "café-london.com"],
    "pt": ["açaí-natural.com.br", "pão-quente.pt", "família.com.br"],
    "it": ["caffè-roma.it", "perché-no.it", "città-studi.it"],
    "es": ["correo.españa.es", "peñarroya.es", "mañana-digital.es"],
    "fr": ["café-lumière.fr", "élysée-conseil.fr", "crème-brûlée.fr"],
    "de": ["bücher.de", "müller-bau.de", "grüne-wiese.de"],
}
EMAIL_FORMS = ["plain", "plus", "dots", "subdomain", "uppercase", "accented_local", "idn_domain", "digits",
               "hyphen", "underscore"]


def surname_for_email(words):
    """The surname part of a full name: drops lower-case particles (da, van, de),
    keeps capitalised ones that belong to the surname (De Luca, Le Gall)."""
    rest = [w for w in words[1:] if not w[0].islower()]
    if not rest:
        return words[-1]
    if len(rest) > 1 and rest[0] in ("De", "Di", "Da", "La", "Le", "Van", "Von", "Del", "Dos", "Lo"):
        return "".join(rest)
    return rest[-1]


def email_fold(word, lang):
    w = word.lower()
    if lang == "de":
        w = w.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    return fold(w).replace(" ", "")


def gen_email(lang, form, person=None):
    if person is None or (form == "accented_local" and fold(person) == person):
        person = pick_name(lang, "accented" if form == "accented_local" else None, multiword=True)[0]
    words = person.split()
    first, last = words[0], surname_for_email(words)
    ff, fl = email_fold(first, lang), email_fold(last, lang)
    prov = rng.choice(PROVIDERS[lang])
    if form == "plain":
        v = f"{ff}.{fl}@{prov}"
    elif form == "plus":
        v = f"{ff}{fl}+{rng.choice(['shop', 'support', 'compras', 'news', 'orders', 'promo'])}@{prov}"
    elif form == "dots":
        mid = fold(words[1]).lower()[0] if len(words) > 2 else rng.choice("abcdefjlmprst")
        v = f"{ff[0]}.{mid}.{fl}@{prov}"
    elif form == "subdomain":
        v = f"{ff}.{fl}@{rng.choice(SUBDOMAINS[lang])}"
    elif form == "uppercase":
        v = rng.choice([f"{ff}.{fl}@{prov}".upper(), f"{ff.capitalize()}.{fl.capitalize()}@{prov.capitalize()}"])
    elif form == "accented_local":
        lf, ll = first.lower(), last.lower().replace(" ", "").replace("'", "")
        opts = [x for x in (f"{lf}.{ll}", ll, f"{lf}{ll}", lf) if fold(x) != x]
        v = rng.choice(opts) + "@" + rng.choice(EAI_DOMAINS[lang])
    elif form == "idn_domain":
        v = f"{rng.choice([ff, ff + '.' + fl, ff[0] + fl])}@{rng.choice(IDN_DOMAINS[lang])}"
    elif form == "digits":
        v = f"{rng.choice([ff + fl, ff + '.' + fl, ff[0] + fl])}{rng.choice([str(rng.randint(1960, 2005)), str(rng.randint(1, 99)), str(rng.randint(100, 999))])}@{prov}"
    elif form == "hyphen":
        v = rng.choice([f"{ff}-{fl}@{prov}", f"{ff}@{fl}-consultoria.com" if lang == "pt" else f"{ff}@{fl}-consulting.com"])
    elif form == "underscore":
        v = f"{ff}_{fl}@{prov}"
    else:
        raise GenError(form)
    if not email_ok(v):
        raise GenError(f"email {v!r}")
    return v, form


# National identifiers -------------------------------------------------------
CF_COMUNI = ["H501", "F205", "L219", "D612", "F839", "A944", "G273", "L736", "C351", "B157"]


def _cf_part(word, is_name):
    w = re.sub(r"[^A-Z]", "", fold(word).upper())
    cons = [c for c in w if c not in "AEIOU"]
    vows = [c for c in w if c in "AEIOU"]
    if is_name and len(cons) >= 4:
        return cons[0] + cons[2] + cons[3]
    return ("".join(cons + vows) + "XXX")[:3]


def gen_cf(person=None, gender=None):
    if person is None:
        person, _, gender = pick_name("it", multiword=True)
    words = person.split()
    first, surname = words[0], " ".join(words[1:])
    if len(words) == 3 and words[1][0].isupper() and words[0] in ("Maria", "Gian"):
        first, surname = " ".join(words[:2]), words[2]
    y, m, dd = rng.randint(1955, 2004), rng.randint(1, 12), rng.randint(1, 28)
    body = (_cf_part(surname, False) + _cf_part(first, True) + f"{y % 100:02d}" + CF_MONTHS[m - 1]
            + f"{dd + (40 if gender == 'F' else 0):02d}" + rng.choice(CF_COMUNI))
    return body + it_check_char(body)


def gen_steuer():
    while True:
        digits = list("0123456789")
        missing = rng.choice(digits)
        digits.remove(missing)
        dup = rng.choice(digits)
        ten = digits + [dup]
        rng.shuffle(ten)
        if ten[0] != "0":
            s = "".join(ten)
            return s + steuer_check(s)


def gen_nir():
    sex = rng.choice("12")
    yy = f"{rng.choice(list(range(55, 100)) + list(range(0, 5))):02d}"
    mm = f"{rng.randint(1, 12):02d}"
    while True:
        dep = f"{rng.randint(1, 95):02d}"
        if dep != "20":
            break
    com = f"{rng.randint(1, 990):03d}"
    order = f"{rng.randint(1, 999):03d}"
    base = sex + yy + mm + dep + com + order
    return base + f"{97 - int(base) % 97:02d}"


def gen_ssn():
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"


def gen_nino():
    while True:
        a = rng.choice([c for c in "ABCEGHJKLMNOPRSTWXYZ"])
        b = rng.choice([c for c in "ABCEGHJKLMNPRSTWXYZ"])
        if a + b not in NINO_BAD_PREFIX:
            return a + b, rdigits(6), rng.choice("ABCD")


ID_FORMS = {"SSN": ["dash", "spaced", "plain"], "NINO": ["spaced", "compact", "lowercase"],
            "CPF": ["dots", "plain"], "CNPJ": ["formatted", "plain"], "NIF": ["plain", "spaced"],
            "CF": ["plain", "lowercase", "spaced"], "DNI": ["plain", "dash", "dots", "lowercase", "spaced"],
            "NIE": ["plain", "dash", "lowercase"], "NIR": ["spaced", "compact", "key_spaced"],
            "STEUER": ["spaced", "compact"]}
ID_VALIDATORS = {"SSN": ssn_ok, "NINO": nino_ok, "CPF": cpf_ok, "CNPJ": cnpj_ok, "NIF": nif_ok, "CF": cf_ok,
                 "DNI": dni_ok, "NIE": dni_ok, "NIR": nir_ok, "STEUER": steuer_ok}


def gen_id(scheme, form, person=None, gender=None):
    if scheme == "SSN":
        a, g, s = gen_ssn()
        v = {"dash": f"{a}-{g}-{s}", "spaced": f"{a} {g} {s}", "plain": a + g + s}[form]
    elif scheme == "NINO":
        p, d, s = gen_nino()
        v = {"spaced": f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}", "compact": p + d + s,
             "lowercase": (p + d + s).lower()}[form]
    elif scheme == "CPF":
        while True:
            d = cpf_digits(rdigits(9))
            if len(set(d)) > 1:
                break
        v = f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}" if form == "dots" else d
    elif scheme == "CNPJ":
        d = cnpj_digits(rdigits(8) + "0001")
        v = f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}" if form == "formatted" else d
    elif scheme == "NIF":
        e = rng.choice("1122223") + rdigits(7)
        d = e + nif_check(e)
        v = f"{d[:3]} {d[3:6]} {d[6:]}" if form == "spaced" else d
    elif scheme == "CF":
        cf = gen_cf(person, gender)
        v = {"plain": cf, "lowercase": cf.lower(), "spaced": f"{cf[:3]} {cf[3:6]} {cf[6:11]} {cf[11:]}"}[form]
    elif scheme == "DNI":
        n = f"{rng.randint(10000000, 99999999)}"
        letter = DNI_LETTERS[int(n) % 23]
        v = {"plain": n + letter, "dash": f"{n}-{letter}", "dots": f"{n[:2]}.{n[2:5]}.{n[5:]}-{letter}",
             "lowercase": n + letter.lower(), "spaced": f"{n} {letter}"}[form]
    elif scheme == "NIE":
        pre, n = rng.choice("XYZ"), rdigits(7)
        letter = DNI_LETTERS[int(str("XYZ".index(pre)) + n) % 23]
        v = {"plain": pre + n + letter, "dash": f"{pre}-{n}-{letter}", "lowercase": (pre + n + letter).lower()}[form]
    elif scheme == "NIR":
        d = gen_nir()
        v = {"spaced": f"{d[0]} {d[1:3]} {d[3:5]} {d[5:7]} {d[7:10]} {d[10:13]} {d[13:]}", "compact": d,
             "key_spaced": f"{d[:13]} {d[13:]}"}[form]
    elif scheme == "STEUER":
        d = gen_steuer()
        v = f"{d[:2]} {d[2:5]} {d[5:8]} {d[8:]}" if form == "spaced" else d
    else:
        raise GenError(scheme)
    if not ID_VALIDATORS[scheme](v):
        raise GenError(f"{scheme} {v!r}")
    return v, f"{scheme.lower()}_{form}"


# ---------------------------------------------------------------------------
# PII templates. Slots: {EMAIL} {PHONE} {CARD} {IBAN} {ID} {NAME} {NAME_F} {NAME_M}.
# A leading "@XX " pins the region of the template's phone / IBAN (e.g. European
# Portuguese vs Brazilian phrasing). ID templates are (scheme, template).
# ---------------------------------------------------------------------------
PII_T = {
    "en": {
        "PHONE": [
            "Hi, you can reach me at {PHONE} after 5pm.",
            "my number is {PHONE} please call me back",
            "Please update the phone number on my account to {PHONE}, the old one no longer works.",
            "Could someone call me on {PHONE} tomorrow morning? The chat keeps disconnecting.",
            "WhatsApp me at {PHONE} if that's easier for you.",
            "Contact number: {PHONE}\nBest time: weekday mornings",
            "I never got the verification SMS on {PHONE}, can you check?",
            "You can text {PHONE} or email {EMAIL}, whichever works for you.",
        ],
        "EMAIL": [
            "Hi, my email is {EMAIL} and I never received the invoice.",
            "Please send the return label to {EMAIL}.",
            "I changed my login to {EMAIL} but the app still shows the old address",
            "My account email ({EMAIL}) is not getting the password reset link.",
            "email: {EMAIL}\norder: #A-10482\nissue: wrong size delivered",
            "Write back to {EMAIL}, not to the address on file!",
            "Hi, I'm {NAME}, account email {EMAIL}, and I'd like to cancel my plan.",
        ],
        "CARD": [
            "My card {CARD} was charged twice for the same order.",
            "I tried to pay with {CARD} and it keeps saying declined",
            "Please remove the card {CARD} from my account.",
            "The refund should go back to card {CARD}, right?",
            "Card number: {CARD}\nIssue: subscription renewed after I cancelled",
            "Why was {CARD} charged $14.99 yesterday? I cancelled in March.",
            "Cardholder {NAME}, card {CARD}, please check the double charge.",
        ],
        "IBAN": [
            "Please refund the deposit to my IBAN {IBAN}.",
            "IBAN {IBAN} please refund the deposit",
            "My bank details changed, the new IBAN is {IBAN}.",
            "send the money to {IBAN} thanks",
            "Account for the refund\nIBAN: {IBAN}\nReason: returned item",
            "I was told to use IBAN {IBAN} for the payout but it bounced",
            "Account holder {NAME}, IBAN {IBAN}.",
        ],
        "ID": [
            ("SSN", "For the tax form you asked for my SSN, it's {ID}."),
            ("SSN", "SSN {ID} please update the tax info on my seller account"),
            ("SSN", "my social security number is {ID} and your form says it's invalid"),
            ("SSN", "Here you go: {ID}. Let me know if you need anything else for the 1099."),
            ("NINO", "My NI number is {ID}, can you add it to the payroll form?"),
            ("NINO", "National Insurance number: {ID}"),
            ("NINO", "ni number {ID} needed for the refund claim"),
            ("NINO", "The form rejected {ID} even though that's my National Insurance number."),
            ("SSN", "Name: {NAME}\nSSN: {ID}\nPlease fix the 1099 you sent me."),
        ],
        "NAME": [
            "Hi, my name is {NAME} and I can't log in to my account.",
            "Hello, I'm {NAME} from Oslo, I ordered a jacket last week.",
            "this is {NAME}, I called yesterday about the refund",
            "Name: {NAME}\nOrder: #A-20417\nProblem: item arrived damaged",
            "You can call me {NAME}. Anyway, the app crashes on startup.",
            "Thanks for sorting this out.\n\nRegards,\n{NAME}",
            "Please cancel my subscription.\nSigned, {NAME}",
            "hi my name is {NAME} i need help with my order",
            "my name is {NAME}, phone {PHONE}, please call me about the broken charger",
        ],
    },
    "pt": {
        "PHONE": [
            "@BR Oi, meu número é {PHONE}, pode me ligar depois das 18h?",
            "@PT Podem ligar-me para o {PHONE} amanhã de manhã?",
            "@BR meu whats é {PHONE} me chama lá",
            "@PT Por favor atualizem o meu contacto para {PHONE}, o antigo já não funciona.",
            "@BR Não recebi o SMS de verificação no {PHONE}.",
            "Telefone para contato: {PHONE}\nMelhor horário: à tarde",
            "@BR Liguei do {PHONE} e ninguém atendeu",
            "Pode falar comigo no {PHONE} ou pelo e-mail {EMAIL}.",
        ],
        "EMAIL": [
            "Oi, meu e-mail é {EMAIL} e a nota fiscal não chegou.",
            "Por favor enviem a fatura para {EMAIL}.",
            "troquei o email da conta pra {EMAIL} mas continua chegando no antigo",
            "O meu endereço ({EMAIL}) não recebe o link de recuperação.",
            "E-mail: {EMAIL}\nPedido: 784512\nProblema: produto com defeito",
            "Respondam para {EMAIL}, por favor!",
            "Me chamo {NAME}, meu e-mail de cadastro é {EMAIL}.",
        ],
        "CARD": [
            "Meu cartão {CARD} foi cobrado duas vezes no mesmo pedido.",
            "tentei pagar com o cartão {CARD} e deu recusado",
            "Por favor removam o cartão {CARD} da minha conta.",
            "O estorno vai cair no cartão {CARD}, certo?",
            "Cartão: {CARD}\nProblema: assinatura renovada depois de cancelada",
            "Porque é que o cartão {CARD} foi debitado ontem em 14,99 €? Cancelei em março.",
            "Titular {NAME}, cartão {CARD}, favor verificar a cobrança duplicada.",
        ],
        "IBAN": [
            "@PT Por favor façam o reembolso para o IBAN {IBAN}.",
            "@PT IBAN {IBAN} por favor devolvam o valor",
            "@PT Mudei de banco, o novo IBAN é {IBAN}.",
            "@PT transfiram para {IBAN} obrigado",
            "@PT Dados para reembolso\nIBAN: {IBAN}\nMotivo: devolução do artigo",
            "@BR Me passaram o IBAN {IBAN} para receber mas a transferência voltou",
            "@PT Titular da conta: {NAME}, IBAN {IBAN}.",
        ],
        "ID": [
            ("CPF", "Meu CPF é {ID}, preciso da segunda via do boleto."),
            ("CPF", "CPF {ID} por favor atualizem o cadastro"),
            ("CPF", "a nota saiu sem o cpf, é {ID}"),
            ("CPF", "Segue meu CPF para emissão da nota: {ID}."),
            ("CPF", "Pode emitir a nota no {ID}? Obrigado."),
            ("CNPJ", "Sou MEI, meu CNPJ é {ID}, preciso da nota no nome da empresa."),
            ("NIF", "O meu NIF é {ID}, precisam dele para a fatura?"),
            ("NIF", "Por favor coloquem o NIF {ID} na fatura"),
            ("NIF", "Número de contribuinte {ID}, a fatura veio sem ele."),
            ("NIF", "faltou o nif na fatura: {ID}"),
            ("CPF", "Nome: {NAME}\nCPF: {ID}\nMotivo: cobrança indevida"),
            ("CNPJ", "CNPJ do meu MEI: {ID}"),
        ],
        "NAME": [
            "Olá, meu nome é {NAME} e não consigo entrar na conta.",
            "Boa tarde, me chamo {NAME} e comprei um tênis semana passada.",
            "Oi, sou a {NAME_F}, falei com vocês ontem sobre o reembolso.",
            "Bom dia, sou o {NAME_M} e a minha encomenda não chegou.",
            "Nome: {NAME}\nPedido: 551203\nProblema: produto chegou danificado",
            "Desde já agradeço.\n\nCumprimentos,\n{NAME}",
            "Aguardo retorno.\n\nAtenciosamente,\n{NAME}",
            "o meu nome é {NAME} e preciso de ajuda com a encomenda",
            "Meu nome é {NAME}, telefone {PHONE}, podem me ligar?",
        ],
    },
    "it": {
        "PHONE": [
            "Buongiorno, potete richiamarmi al {PHONE}?",
            "il mio numero è {PHONE} scrivetemi su whatsapp",
            "Vi prego di aggiornare il mio recapito: {PHONE}.",
            "Non mi arriva l'SMS di verifica sul {PHONE}, potete controllare?",
            "Tel. {PHONE} – rispondo dopo le 14",
            "Chiamatemi al {PHONE} domani mattina, grazie",
            "Cellulare: {PHONE}\nOrario preferito: pomeriggio",
            "Potete contattarmi al {PHONE} oppure via mail a {EMAIL}.",
        ],
        "EMAIL": [
            "Salve, la mia email è {EMAIL} e non ho ricevuto la fattura.",
            "Mandate l'etichetta di reso a {EMAIL}, grazie.",
            "ho cambiato l'indirizzo in {EMAIL} ma le notifiche arrivano ancora al vecchio",
            "Il mio indirizzo ({EMAIL}) non riceve il link per reimpostare la password.",
            "Email: {EMAIL}\nOrdine: 30098765\nProblema: taglia sbagliata",
            "Rispondetemi a {EMAIL}!",
            "Mi chiamo {NAME} e la mail del mio account è {EMAIL}.",
        ],
        "CARD": [
            "Sulla carta {CARD} mi avete addebitato due volte lo stesso ordine.",
            "ho provato a pagare con la carta {CARD} ma viene rifiutata",
            "Per favore rimuovete la carta {CARD} dal mio account.",
            "Il rimborso arriverà sulla carta {CARD}, giusto?",
            "Numero carta: {CARD}\nProblema: abbonamento rinnovato dopo la disdetta",
            "Perché sulla carta {CARD} ieri sono stati addebitati 14,99 €?",
            "Intestatario {NAME}, carta {CARD}: controllate l'addebito doppio per favore.",
        ],
        "IBAN": [
            "Vi chiedo il rimborso sull'IBAN {IBAN}.",
            "IBAN {IBAN} vi prego di fare il bonifico entro venerdì",
            "Ho cambiato banca, il nuovo IBAN è {IBAN}.",
            "accreditate su {IBAN} grazie mille",
            "Coordinate per il rimborso\nIBAN: {IBAN}\nCausale: reso articolo",
            "mi avete detto di usare l'iban {IBAN} ma il bonifico è tornato indietro",
            "Intestatario del conto: {NAME}, IBAN {IBAN}.",
        ],
        "ID": [
            ("CF", "Il mio codice fiscale è {ID}, serve per la fattura?"),
            ("CF", "codice fiscale {ID} da inserire in fattura per favore"),
            ("CF", "Vi mando il CF per la fattura: {ID}."),
            ("CF", "cf {ID} grazie"),
            ("CF", "Per la fattura: {ID}."),
            ("CF", "il sistema dice che il codice fiscale {ID} non è valido, ma è il mio"),
            ("CF", "Nome: {NAME}\nCodice fiscale: {ID}\nRichiesta: fattura elettronica"),
        ],
        "NAME": [
            "Buongiorno, mi chiamo {NAME} e non riesco ad accedere al mio account.",
            "Salve, sono {NAME}, vi ho scritto ieri per il rimborso.",
            "Il mio nome è {NAME} e ho un problema con l'ordine.",
            "Nome: {NAME}\nOrdine: 30047711\nProblema: pacco danneggiato",
            "Grazie per l'aiuto.\n\nCordiali saluti,\n{NAME}",
            "mi chiamo {NAME} devo cambiare la password",
            "Resto in attesa di una risposta.\nUn saluto,\n{NAME}",
            "Sono {NAME}, il mio numero è {PHONE}.",
        ],
    },
    "es": {
        "PHONE": [
            "Hola, podéis llamarme al {PHONE} a partir de las 17:00.",
            "mi número es {PHONE} escribidme por whatsapp",
            "Por favor, actualicen mi teléfono a {PHONE}, el anterior ya no funciona.",
            "No me llega el SMS de verificación al {PHONE}.",
            "Teléfono de contacto: {PHONE}\nHorario: mañanas",
            "Llámenme al {PHONE} mañana, gracias",
            "Os he llamado desde el {PHONE} y nadie contesta",
            "Me podéis localizar en el {PHONE} o en {EMAIL}.",
        ],
        "EMAIL": [
            "Hola, mi correo es {EMAIL} y no me ha llegado la factura.",
            "Enviad la etiqueta de devolución a {EMAIL}.",
            "cambié el correo de la cuenta a {EMAIL} pero sigo recibiendo todo en el antiguo",
            "Mi dirección ({EMAIL}) no recibe el enlace para restablecer la contraseña.",
            "Correo: {EMAIL}\nPedido: 4521987\nIncidencia: talla equivocada",
            "¡Contestadme a {EMAIL}, por favor!",
            "Me llamo {NAME} y mi correo es {EMAIL}.",
        ],
        "CARD": [
            "Me han cobrado dos veces en la tarjeta {CARD} por el mismo pedido.",
            "intenté pagar con la tarjeta {CARD} y me la rechaza",
            "Por favor, eliminad la tarjeta {CARD} de mi cuenta.",
            "El reembolso irá a la tarjeta {CARD}, ¿verdad?",
            "Número de tarjeta: {CARD}\nProblema: suscripción renovada después de darme de baja",
            "¿Por qué me cargaron ayer 14,99 € en la tarjeta {CARD}?",
            "Titular {NAME}, tarjeta {CARD}, revisad el cargo duplicado por favor.",
        ],
        "IBAN": [
            "Os pido el reembolso en el IBAN {IBAN}.",
            "IBAN {IBAN} por favor devolvedme el importe",
            "He cambiado de banco, mi nuevo IBAN es {IBAN}.",
            "haced la transferencia a {IBAN} gracias",
            "Datos para el reembolso\nIBAN: {IBAN}\nMotivo: devolución del artículo",
            "me dijeron que usara el iban {IBAN} pero la transferencia fue devuelta",
            "Titular de la cuenta: {NAME}, IBAN {IBAN}.",
        ],
        "ID": [
            ("DNI", "Mi DNI es {ID}, ¿lo necesitáis para la factura?"),
            ("DNI", "DNI {ID} para la factura por favor"),
            ("DNI", "En la factura falta mi DNI: {ID}."),
            ("DNI", "dni {ID} gracias"),
            ("DNI", "El formulario no acepta el DNI {ID} y es el mío"),
            ("NIE", "Soy extranjero, mi NIE es {ID}."),
            ("NIE", "NIE {ID} para la factura, gracias"),
            ("NIE", "¿Podéis poner el {ID} en la factura? Es mi número de extranjero."),
            ("DNI", "¿Me hacéis la factura con el {ID}?"),
            ("DNI", "Nombre: {NAME}\nDNI: {ID}\nMotivo: factura a mi nombre"),
        ],
        "NAME": [
            "Hola, me llamo {NAME} y no puedo entrar en mi cuenta.",
            "Buenas, soy {NAME}, os escribí ayer por el reembolso.",
            "Mi nombre es {NAME} y tengo un problema con el pedido.",
            "Nombre: {NAME}\nPedido: 4418820\nProblema: llegó roto",
            "Gracias de antemano.\n\nSaludos,\n{NAME}",
            "me llamo {NAME} necesito cambiar la contraseña",
            "Quedo a la espera.\nUn saludo, {NAME}",
            "Soy {NAME}, mi teléfono es {PHONE}.",
        ],
    },
    "fr": {
        "PHONE": [
            "Bonjour, vous pouvez me rappeler au {PHONE} après 18h ?",
            "mon numéro c'est le {PHONE} écrivez-moi sur whatsapp",
            "Merci de mettre à jour mon numéro : {PHONE}.",
            "Je ne reçois pas le SMS de vérification sur le {PHONE}.",
            "Tél : {PHONE}\nDisponible le matin",
            "Appelez-moi au {PHONE} demain matin svp",
            "J'ai appelé depuis le {PHONE} mais personne ne répond",
            "Vous pouvez me joindre au {PHONE} ou par mail à {EMAIL}.",
        ],
        "EMAIL": [
            "Bonjour, mon adresse mail est {EMAIL} et je n'ai pas reçu la facture.",
            "Merci d'envoyer l'étiquette de retour à {EMAIL}.",
            "j'ai changé l'adresse du compte pour {EMAIL} mais tout arrive encore sur l'ancienne",
            "Mon adresse ({EMAIL}) ne reçoit pas le lien de réinitialisation.",
            "E-mail : {EMAIL}\nCommande : 4521987\nProblème : mauvaise taille",
            "Répondez-moi à {EMAIL} !",
            "Je m'appelle {NAME} et mon adresse mail est {EMAIL}.",
        ],
        "CARD": [
            "Ma carte {CARD} a été débitée deux fois pour la même commande.",
            "j'ai essayé de payer avec la carte {CARD} et elle est refusée",
            "Merci de supprimer la carte {CARD} de mon compte.",
            "Le remboursement sera fait sur la carte {CARD}, c'est bien ça ?",
            "Numéro de carte : {CARD}\nProblème : abonnement renouvelé après résiliation",
            "Pourquoi la carte {CARD} a-t-elle été débitée de 14,99 € hier ?",
            "Titulaire {NAME}, carte {CARD}, merci de vérifier le double débit.",
        ],
        "IBAN": [
            "Merci de me rembourser sur l'IBAN {IBAN}.",
            "IBAN {IBAN} merci de faire le virement rapidement",
            "J'ai changé de banque, mon nouvel IBAN est {IBAN}.",
            "virez sur {IBAN} merci",
            "Coordonnées pour le remboursement\nIBAN : {IBAN}\nMotif : retour article",
            "on m'a dit d'utiliser l'iban {IBAN} mais le virement a été rejeté",
            "Titulaire du compte : {NAME}, IBAN {IBAN}.",
        ],
        "ID": [
            ("NIR", "Mon numéro de sécurité sociale est le {ID}."),
            ("NIR", "numéro de sécu {ID} pour le dossier de remboursement"),
            ("NIR", "Voici mon NIR : {ID}, pour l'attestation."),
            ("NIR", "Le formulaire refuse mon numéro de sécurité sociale {ID} alors qu'il est correct."),
            ("NIR", "Le numéro sur ma carte Vitale : {ID}."),
            ("NIR", "Pour l'attestation employeur : {ID}"),
            ("NIR", "Nom : {NAME}\nN° de sécurité sociale : {ID}"),
        ],
        "NAME": [
            "Bonjour, je m'appelle {NAME} et je n'arrive pas à me connecter.",
            "Bonjour, je suis {NAME}, je vous ai écrit hier pour le remboursement.",
            "Mon nom est {NAME} et j'ai un problème avec ma commande.",
            "Nom : {NAME}\nCommande : 4478120\nProblème : colis abîmé",
            "Merci d'avance.\n\nCordialement,\n{NAME}",
            "je m'appelle {NAME} je dois changer mon mot de passe",
            "Dans l'attente de votre retour.\nBien à vous,\n{NAME}",
            "Je suis {NAME}, mon numéro est le {PHONE}.",
        ],
    },
    "de": {
        "PHONE": [
            "Hallo, Sie erreichen mich unter {PHONE} ab 17 Uhr.",
            "meine nummer ist {PHONE} schreibt mir gern per whatsapp",
            "Bitte ändern Sie meine Telefonnummer auf {PHONE}.",
            "Ich bekomme die Bestätigungs-SMS auf {PHONE} nicht.",
            "Tel.: {PHONE}\nErreichbar vormittags",
            "Rufen Sie mich bitte morgen unter {PHONE} an",
            "Ich habe von {PHONE} aus angerufen, aber niemand geht ran",
            "Sie erreichen mich unter {PHONE} oder per Mail an {EMAIL}.",
        ],
        "EMAIL": [
            "Hallo, meine E-Mail-Adresse ist {EMAIL} und die Rechnung ist nicht angekommen.",
            "Bitte schicken Sie das Retourenetikett an {EMAIL}.",
            "hab die adresse im konto auf {EMAIL} geändert aber alles kommt noch an die alte",
            "Meine Adresse ({EMAIL}) bekommt keinen Link zum Zurücksetzen des Passworts.",
            "E-Mail: {EMAIL}\nBestellung: 30012345\nProblem: falsche Größe",
            "Antworten Sie bitte an {EMAIL}!",
            "Ich heiße {NAME}, meine E-Mail ist {EMAIL}.",
        ],
        "CARD": [
            "Meine Karte {CARD} wurde für dieselbe Bestellung zweimal belastet.",
            "ich hab versucht mit der karte {CARD} zu zahlen aber sie wird abgelehnt",
            "Bitte entfernen Sie die Karte {CARD} aus meinem Konto.",
            "Die Erstattung geht auf die Karte {CARD}, oder?",
            "Kartennummer: {CARD}\nProblem: Abo nach Kündigung verlängert",
            "Warum wurde die Karte {CARD} gestern mit 14,99 € belastet?",
            "Karteninhaber {NAME}, Karte {CARD} – bitte die doppelte Abbuchung prüfen.",
        ],
        "IBAN": [
            "Bitte erstatten Sie den Betrag auf meine IBAN {IBAN}.",
            "IBAN {IBAN} bitte bis Freitag überweisen",
            "Ich habe die Bank gewechselt, meine neue IBAN lautet {IBAN}.",
            "überweist bitte auf {IBAN} danke",
            "Bankverbindung für die Erstattung\nIBAN: {IBAN}\nGrund: Rücksendung",
            "man hat mir gesagt ich soll die iban {IBAN} angeben aber die Überweisung kam zurück",
            "Kontoinhaber: {NAME}, IBAN {IBAN}.",
        ],
        "ID": [
            ("STEUER", "Meine Steuer-ID ist {ID}, brauchen Sie die für die Rechnung?"),
            ("STEUER", "Steuer-ID {ID} bitte im Formular ergänzen"),
            ("STEUER", "Hier meine steuerliche Identifikationsnummer: {ID}."),
            ("STEUER", "Das Formular akzeptiert meine Steuer-ID {ID} nicht, obwohl sie stimmt."),
            ("STEUER", "Steueridentifikationsnummer {ID} für die Abrechnung"),
            ("STEUER", "Für die Lohnabrechnung hier die Nummer vom Finanzamt: {ID}"),
            ("STEUER", "Name: {NAME}\nSteuer-ID: {ID}"),
        ],
        "NAME": [
            "Hallo, ich heiße {NAME} und kann mich nicht mehr einloggen.",
            "Guten Tag, ich bin {NAME} aus Köln und habe letzte Woche eine Jacke bestellt.",
            "Mein Name ist {NAME} und ich habe ein Problem mit meiner Bestellung.",
            "Name: {NAME}\nBestellung: 30047711\nProblem: Paket beschädigt",
            "Vielen Dank im Voraus.\n\nViele Grüße\n{NAME}",
            "ich heiße {NAME} muss mein passwort ändern",
            "Ich freue mich auf Ihre Antwort.\n\nMit freundlichen Grüßen\n{NAME}",
            "Ich bin {NAME}, meine Nummer ist {PHONE}.",
        ],
    },
}

HOME_REGIONS = {"en": ["US", "GB"], "pt": ["BR", "PT"], "it": ["IT"], "es": ["ES"], "fr": ["FR"], "de": ["DE"]}
FOREIGN_REGIONS = {"en": ["DE", "FR", "IT"], "pt": ["US", "ES", "FR"], "it": ["DE", "GB", "FR"],
                   "es": ["US", "BR", "FR"], "fr": ["GB", "ES", "IT"], "de": ["IT", "GB", "US"]}
IBAN_COUNTRIES = {"en": ["GB", "IE", "GB", "NL", "DE", "BE", "CH"], "pt": ["PT"], "it": ["IT", "IT", "IT", "CH", "AT"],
                  "es": ["ES", "ES", "ES", "FR"], "fr": ["FR", "FR", "FR", "BE", "CH"], "de": ["DE", "DE", "DE", "AT", "CH"]}
SLOT_RE = re.compile(r"\{(EMAIL|PHONE|CARD|IBAN|ID|NAME|NAME_F|NAME_M)\}")
SLOT_CAT = {"NAME_F": "NAME", "NAME_M": "NAME"}


def rotate(lst, k):
    k %= len(lst)
    return lst[k:] + lst[:k]


def main_forms(cat, lang, n):
    """The list of (main-slot) forms for the n rows of one (category, language) cell."""
    li = LANGS.index(lang)
    if cat == "CARD":
        forms = rotate(CARD_FORMS, li * 2)
        brands = rotate(CARD_BRANDS, li * 3)
        return [(forms[i % len(forms)], brands[i % len(brands)]) for i in range(n)]
    if cat == "IBAN":
        forms = rotate(IBAN_FORMS, li)
        return [forms[i % len(forms)] for i in range(n)]
    if cat == "EMAIL":
        forms = rotate(EMAIL_FORMS, li * 2)
        return [forms[i % len(forms)] for i in range(n)]
    if cat == "PHONE":
        home = rotate(PHONE_HOME_FORMS, li * 5)
        out = []
        n_foreign = 3
        hi = fi = 0
        for i in range(n):
            if i % 4 == 3 and fi < n_foreign:
                out.append(("foreign", FOREIGN_REGIONS[lang][fi % 3], rotate(PHONE_FOREIGN_FORMS, li)[fi % 6]))
                fi += 1
            else:
                out.append(("home", HOME_REGIONS[lang][hi % len(HOME_REGIONS[lang])], home[hi % len(home)]))
                hi += 1
        return out
    if cat == "NAME":
        types = rotate(name_types(lang), li)
        return [types[i % len(types)] for i in range(n)]
    return [None] * n


# Per-scheme form rotation for ID rows.
_id_form_counter = Counter()


def next_id_form(scheme):
    forms = ID_FORMS[scheme]
    f = forms[_id_form_counter[scheme] % len(forms)]
    _id_form_counter[scheme] += 1
    return f


def fill_pii(lang, cat, template, main_form, scheme=None):
    hint = None
    if template.startswith("@"):
        hint, template = template[1:3], template[4:]
    slots = SLOT_RE.findall(template)
    main_idx = next(i for i, s in enumerate(slots) if SLOT_CAT.get(s, s) == cat)
    # A person for the row (used for NAME slots and to derive e-mail / codice fiscale).
    person = None
    if any(s.startswith("NAME") for s in slots):
        gender = {"NAME_F": "F", "NAME_M": "M"}.get(next(s for s in slots if s.startswith("NAME")))
        if cat == "NAME":
            ntype = main_form
        elif cat == "EMAIL" and main_form == "accented_local":
            ntype = "accented"
        else:
            ntype = rng.choice(["plain", "plain", "accented", "particle", "hyphenated", "three_words"])
        # a second item next to a card / IBAN / e-mail / ID is a full name
        person = pick_name(lang, ntype, gender, multiword=(cat != "NAME"))
    values, spelling = [], None
    pieces, pos = [], 0
    for i, m in enumerate(SLOT_RE.finditer(template)):
        slot = m.group(1)
        scat = SLOT_CAT.get(slot, slot)
        is_main = i == main_idx
        after = template[m.end():]
        if scat == "NAME":
            v, tag = person[0], person[1]
        elif scat == "EMAIL":
            form = main_form if is_main else rng.choice(["plain", "plain", "digits", "dots", "plus"])
            v, tag = gen_email(lang, form, person[0] if person and person[1] != "lowercase" else (person[0] if person else None))
            if tag == "plain" and re.match(r"[.,;:!?)]", after):
                tag = "trailing_punct"
        elif scat == "PHONE":
            if is_main:
                where, region, form = main_form
                if where == "home" and hint in HOME_REGIONS[lang]:
                    region = hint
                kind = rng.choice(["mobile", "mobile", "fixed"])
                v, tag = gen_phone(region, kind, form, where == "foreign")
            else:
                region = hint if hint else rng.choice(HOME_REGIONS[lang])
                v, tag = gen_phone(region, "mobile", rng.choice(["national", "intl", "national"]), False)
        elif scat == "CARD":
            form, brand = main_form if is_main else ("spaced", "visa16")
            v, tag = gen_card(form, brand)
        elif scat == "IBAN":
            cc = hint if hint else rng.choice(IBAN_COUNTRIES[lang])
            form = main_form if is_main else "spaced"
            v, tag = gen_iban(cc, form)
            if re.match(r" [^\W\d_]", after):
                tag = "followed_by_word" if tag == "compact" else tag + "_followed_by_word"
        elif scat == "ID":
            form = next_id_form(scheme)
            if scheme == "CF" and person:
                v, tag = gen_id(scheme, form, person[0] if person[1] != "single_word" else None, person[2])
            else:
                v, tag = gen_id(scheme, form)
        else:
            raise GenError(slot)
        if is_main:
            spelling = tag
        pieces.append(template[pos:m.start()])
        pieces.append(v)
        pos = m.end()
        values.append(v)
    pieces.append(template[pos:])
    text = "".join(pieces)
    return text, values, spelling


# ---------------------------------------------------------------------------
# Benign templates: (category, template). Slots are filled by bslot(); none of
# them is personal data. Templates without slots are used once each.
# ---------------------------------------------------------------------------
BENIGN_T = {
    "en": [
        ("order_number", "Hi, my order {ORDER} still hasn't shipped, it's been a week."),
        ("order_number", "Order {ORDER} arrived with a missing item."),
        ("order_number", "can you cancel order {ORDER}? i picked the wrong colour"),
        ("order_number", "Order {ORDER} from {DATE}: paid {AMOUNT}, still no tracking."),
        ("date", "The parcel was supposed to arrive on {DATE} but nothing yet."),
        ("date", "I placed the order on {DATE} and got charged again on {DATE2}."),
        ("time", "The chat closed at {TIME} while I was still typing."),
        ("time", "Your store says it opens at {TIME} but it was closed."),
        ("amount", "I was charged {AMOUNT} instead of {AMOUNT2}, please check."),
        ("amount", "Is the {FEE} shipping fee refundable?"),
        ("version", "The app crashes on startup since version {VERSION}."),
        ("version", "I'm on {VERSION} and the backup button is missing."),
        ("version", "Still broken on build {BUILD}, same as before."),
        ("article_id", "Your help article {ARTICLE} says to reinstall, but that didn't work."),
        ("article_id", "Article {ARTICLE} is out of date, the menu looks different now."),
        ("ticket", "Any update on ticket {TICKET}? Nobody has replied."),
        ("ticket", "This is a follow-up to case {TICKET}, the issue is back."),
        ("tracking", "Tracking {TRACKING} shows delivered but I got nothing."),
        ("tracking", "the tracking number {TRACKING} doesn't work on the courier site"),
        ("error_code", "I keep getting error {ERROR} when I try to pay."),
        ("error_code", "Update failed with error {ERROR} again."),
        ("size", "The backup is stuck at {SIZE} and won't finish."),
        ("percentage", "The promo said {PCT} off but the discount wasn't applied."),
        ("percentage", "Upload stops at {PROGRESS} every time."),
        ("otp_code", "The code {OTP} didn't arrive in time and now it says expired."),
        ("otp_code", "I entered the verification code {OTP} but it says invalid."),
        ("invalid_card", "The transaction reference on my bank statement is {BADCARD}, does that help?"),
        ("invalid_card", "Your checkout page shows the placeholder {BADCARD} in the card field, is that a bug?"),
        ("invalid_iban", "The form shows the example IBAN {BADIBAN} as a placeholder, which confused me."),
        ("invalid_iban", "Your FAQ lists {BADIBAN} as a sample IBAN. Is that the format you need?"),
        ("short_number", "I was number {SHORT} in the queue and then got disconnected."),
        ("short_number", "The phone menu tells me to press {KEY} but nothing happens."),
        ("quantity", "I ordered {QTY} but only received 2."),
        ("year", "I've been a customer since {YEAR} and never had this problem."),
        ("url", "I followed {URL} but the page is blank."),
        ("invoice_number", "Invoice {INVOICE} has the wrong VAT amount."),
        ("coupon", "The coupon {COUPON} isn't working at checkout."),
        ("device_model", "On my {MODEL} the notifications don't show."),
        ("device_model", "Since updating my {MODEL} to {OS} the app won't open."),
        ("name_cue_no_name", "My name is wrong on my profile, how do I change it?"),
        ("name_cue_no_name", "I'm unable to log in since yesterday."),
        ("name_cue_no_name", "this is the third time I'm writing about this"),
        ("name_cue_no_name", "Call me back when you can, the chat is too slow."),
        ("name_cue_no_name", "Signed up last week and still no confirmation email."),
        ("name_cue_no_name", "I'm not sure my order went through."),
        ("name_cue_no_name", "my name is misspelled on the invoice, can you fix it?"),
        ("name_cue_no_name", "Thanks in advance.\n\nKind regards"),
    ],
    "pt": [
        ("order_number", "Oi, meu pedido {ORDER} ainda não foi enviado."),
        ("order_number", "A encomenda nº {ORDERNO} chegou com um artigo em falta."),
        ("order_number", "quero cancelar o pedido nº {ORDERNO}, pedi a cor errada"),
        ("order_number", "Pedido {ORDER} feito em {DATE}, paguei {AMOUNT} e nada de rastreio."),
        ("date", "A entrega estava prevista para {DATE} e até agora nada."),
        ("date", "Fiz a compra dia {DATE} e cobraram de novo em {DATE2}."),
        ("time", "O chat fechou às {TIME} enquanto eu ainda escrevia."),
        ("time", "A loja diz que abre às {TIME}, mas estava fechada."),
        ("amount", "Cobraram {AMOUNT} em vez de {AMOUNT2}, podem verificar?"),
        ("amount", "O frete de {FEE} é reembolsável?"),
        ("version", "O app trava ao abrir desde a versão {VERSION}."),
        ("version", "Estou na versão {VERSION} e o botão de backup sumiu."),
        ("version", "Continua com erro no build {BUILD}."),
        ("article_id", "O artigo de ajuda {ARTICLE} manda reinstalar, mas não resolveu."),
        ("article_id", "O artigo {ARTICLE} está desatualizado, o menu mudou."),
        ("ticket", "Alguma novidade sobre o chamado {TICKET}? Ninguém respondeu."),
        ("ticket", "Volto a escrever sobre o protocolo {TICKET}, o problema voltou."),
        ("tracking", "O código de rastreio {TRACKING} diz entregue mas não recebi nada."),
        ("tracking", "o rastreio {TRACKING} não funciona no site dos correios"),
        ("error_code", "Aparece o erro {ERROR} quando tento pagar."),
        ("error_code", "A atualização falhou de novo com o erro {ERROR}."),
        ("size", "O backup fica parado em {SIZE} e não termina."),
        ("percentage", "A promoção dizia {PCT} de desconto mas não foi aplicado."),
        ("percentage", "O envio para sempre nos {PROGRESS}."),
        ("otp_code", "O código {OTP} não chegou a tempo e agora diz expirado."),
        ("otp_code", "Digitei o código de verificação {OTP} e diz que é inválido."),
        ("invalid_card", "No extrato aparece a referência da transação {BADCARD}, ajuda?"),
        ("invalid_card", "A página de pagamento mostra o exemplo {BADCARD} no campo do cartão, é um erro?"),
        ("invalid_iban", "O formulário mostra o IBAN de exemplo {BADIBAN}, fiquei confuso."),
        ("invalid_iban", "Nas perguntas frequentes aparece {BADIBAN} como IBAN de exemplo, é esse o formato?"),
        ("short_number", "Eu era o número {SHORT} na fila e a chamada caiu."),
        ("short_number", "O menu pede para digitar {KEY} mas nada acontece."),
        ("quantity", "Encomendei {QTY} e só recebi duas."),
        ("year", "Sou cliente desde {YEAR} e nunca tive esse problema."),
        ("url", "Segui o link {URL} mas a página fica em branco."),
        ("invoice_number", "A fatura {INVOICE} está com o valor do IVA errado."),
        ("coupon", "O cupom {COUPON} não funciona no checkout."),
        ("device_model", "No meu {MODEL} as notificações não aparecem."),
        ("device_model", "Depois de atualizar o {MODEL} para o {OS} o app não abre mais."),
        ("name_cue_no_name", "Meu nome está errado no cadastro, como altero?"),
        ("name_cue_no_name", "O meu nome aparece mal escrito na fatura."),
        ("name_cue_no_name", "Sou cliente há anos e nunca fui tão mal atendido."),
        ("name_cue_no_name", "sou eu de novo, ainda não resolveram"),
        ("name_cue_no_name", "Sou o titular da conta e não consigo alterar a senha."),
        ("name_cue_no_name", "Me chamem no chat quando puderem, por favor."),
        ("name_cue_no_name", "Estou bloqueado desde ontem, não consigo entrar."),
        ("name_cue_no_name", "Desde já agradeço.\n\nCumprimentos"),
    ],
    "it": [
        ("order_number", "Buongiorno, il mio ordine {ORDER} non è ancora partito."),
        ("order_number", "L'ordine n. {ORDERNO} è arrivato con un articolo mancante."),
        ("order_number", "potete annullare l'ordine {ORDER}? ho sbagliato colore"),
        ("order_number", "Ordine {ORDER} del {DATE}: pagato {AMOUNT}, ancora nessun tracking."),
        ("date", "La consegna era prevista per il {DATE} ma non è arrivato niente."),
        ("date", "Ho fatto l'acquisto il {DATE} e mi avete riaddebitato il {DATE2}."),
        ("time", "La chat si è chiusa alle {TIME} mentre stavo ancora scrivendo."),
        ("time", "Il negozio dice che apre alle {TIME}, ma era chiuso."),
        ("amount", "Mi avete addebitato {AMOUNT} invece di {AMOUNT2}, potete controllare?"),
        ("amount", "Le spese di spedizione di {FEE} sono rimborsabili?"),
        ("version", "L'app si chiude all'avvio dalla versione {VERSION}."),
        ("version", "Ho la versione {VERSION} e il pulsante di backup è sparito."),
        ("version", "Con la build {BUILD} il problema c'è ancora."),
        ("article_id", "L'articolo di assistenza {ARTICLE} dice di reinstallare, ma non ha funzionato."),
        ("article_id", "L'articolo {ARTICLE} non è aggiornato, il menu è cambiato."),
        ("ticket", "Novità sulla segnalazione {TICKET}? Nessuno ha risposto."),
        ("ticket", "Vi riscrivo per la pratica {TICKET}, il problema è tornato."),
        ("tracking", "Il tracking {TRACKING} risulta consegnato ma non ho ricevuto nulla."),
        ("tracking", "il codice di tracciamento {TRACKING} non funziona sul sito del corriere"),
        ("error_code", "Quando provo a pagare esce l'errore {ERROR}."),
        ("error_code", "L'aggiornamento è fallito di nuovo con l'errore {ERROR}."),
        ("size", "Il backup si blocca a {SIZE} e non finisce."),
        ("percentage", "La promo diceva {PCT} di sconto ma non è stato applicato."),
        ("percentage", "Il caricamento si ferma sempre al {PROGRESS}."),
        ("otp_code", "Il codice {OTP} non è arrivato in tempo e ora risulta scaduto."),
        ("otp_code", "Ho inserito il codice di verifica {OTP} ma dice che non è valido."),
        ("invalid_card", "Sull'estratto conto c'è il riferimento operazione {BADCARD}, può servire?"),
        ("invalid_card", "Nella pagina di pagamento c'è l'esempio {BADCARD} nel campo della carta, è un errore?"),
        ("invalid_iban", "Il modulo mostra l'IBAN di esempio {BADIBAN} e mi ha confuso."),
        ("invalid_iban", "Nelle FAQ c'è {BADIBAN} come IBAN di esempio, è quello il formato giusto?"),
        ("short_number", "Ero il numero {SHORT} in coda e poi è caduta la linea."),
        ("short_number", "Il menu vocale dice di premere {KEY} ma non succede niente."),
        ("quantity", "Ho ordinato {QTY} e ne ho ricevute solo due."),
        ("year", "Sono cliente dal {YEAR} e non ho mai avuto questo problema."),
        ("url", "Ho seguito {URL} ma la pagina è vuota."),
        ("invoice_number", "La fattura {INVOICE} ha l'IVA sbagliata."),
        ("coupon", "Il codice sconto {COUPON} non funziona al checkout."),
        ("device_model", "Sul mio {MODEL} le notifiche non compaiono."),
        ("device_model", "Da quando ho aggiornato il {MODEL} a {OS} l'app non si apre."),
        ("name_cue_no_name", "Il mio nome è scritto male sul profilo, come lo correggo?"),
        ("name_cue_no_name", "Sono bloccato da ieri, non riesco ad accedere."),
        ("name_cue_no_name", "Sono il titolare dell'account ma non posso cambiare la password."),
        ("name_cue_no_name", "sono di nuovo io, ancora niente"),
        ("name_cue_no_name", "Il mio nome non compare nella fattura."),
        ("name_cue_no_name", "Sono cliente da anni e non mi era mai successo."),
        ("name_cue_no_name", "Mi chiamate voi quando potete? In chat è lentissimo."),
        ("name_cue_no_name", "Resto in attesa.\n\nCordiali saluti"),
    ],
    "es": [
        ("order_number", "Hola, mi pedido {ORDER} todavía no ha salido."),
        ("order_number", "El pedido nº {ORDERNO} llegó con un artículo de menos."),
        ("order_number", "¿podéis cancelar el pedido {ORDER}? me equivoqué de color"),
        ("order_number", "Pedido {ORDER} del {DATE}: pagué {AMOUNT} y sigo sin seguimiento."),
        ("date", "La entrega estaba prevista para el {DATE} y no ha llegado nada."),
        ("date", "Hice la compra el {DATE} y me volvieron a cobrar el {DATE2}."),
        ("time", "El chat se cerró a las {TIME} mientras seguía escribiendo."),
        ("time", "La tienda dice que abre a las {TIME}, pero estaba cerrada."),
        ("amount", "Me cobraron {AMOUNT} en lugar de {AMOUNT2}, ¿lo podéis revisar?"),
        ("amount", "¿Los gastos de envío de {FEE} se devuelven?"),
        ("version", "La app se cierra al abrir desde la versión {VERSION}."),
        ("version", "Tengo la versión {VERSION} y ha desaparecido el botón de copia de seguridad."),
        ("version", "Con la build {BUILD} sigue fallando."),
        ("article_id", "El artículo de ayuda {ARTICLE} dice que reinstale, pero no funcionó."),
        ("article_id", "El artículo {ARTICLE} está desactualizado, el menú ha cambiado."),
        ("ticket", "¿Alguna novedad sobre la incidencia {TICKET}? Nadie ha contestado."),
        ("ticket", "Vuelvo a escribir por el caso {TICKET}, el problema ha vuelto."),
        ("tracking", "El seguimiento {TRACKING} pone entregado pero no he recibido nada."),
        ("tracking", "el número de seguimiento {TRACKING} no funciona en la web de la mensajería"),
        ("error_code", "Me sale el error {ERROR} cuando intento pagar."),
        ("error_code", "La actualización ha vuelto a fallar con el error {ERROR}."),
        ("size", "La copia de seguridad se queda en {SIZE} y no termina."),
        ("percentage", "La promoción decía {PCT} de descuento pero no se aplicó."),
        ("percentage", "La subida se para siempre en el {PROGRESS}."),
        ("otp_code", "El código {OTP} no llegó a tiempo y ahora pone caducado."),
        ("otp_code", "Metí el código de verificación {OTP} y dice que no es válido."),
        ("invalid_card", "En el extracto aparece la referencia de la operación {BADCARD}, ¿sirve?"),
        ("invalid_card", "La página de pago muestra el ejemplo {BADCARD} en el campo de la tarjeta, ¿es un fallo?"),
        ("invalid_iban", "El formulario muestra el IBAN de ejemplo {BADIBAN} y me ha liado."),
        ("invalid_iban", "En las preguntas frecuentes sale {BADIBAN} como IBAN de ejemplo, ¿es ese el formato?"),
        ("short_number", "Era el número {SHORT} en la cola y se cortó la llamada."),
        ("short_number", "El menú me dice que pulse {KEY} pero no pasa nada."),
        ("quantity", "Pedí {QTY} y solo me llegaron dos."),
        ("year", "Soy cliente desde {YEAR} y nunca me había pasado."),
        ("url", "Seguí {URL} pero la página sale en blanco."),
        ("invoice_number", "La factura {INVOICE} tiene mal el IVA."),
        ("coupon", "El cupón {COUPON} no funciona al pagar."),
        ("device_model", "En mi {MODEL} no aparecen las notificaciones."),
        ("device_model", "Desde que actualicé el {MODEL} a {OS} la app no abre."),
        ("name_cue_no_name", "Mi nombre está mal escrito en el perfil, ¿cómo lo cambio?"),
        ("name_cue_no_name", "Soy el titular de la cuenta y no puedo cambiar la contraseña."),
        ("name_cue_no_name", "soy yo otra vez, sigue sin funcionar"),
        ("name_cue_no_name", "Mi nombre aparece todo en mayúsculas en la factura."),
        ("name_cue_no_name", "Estoy bloqueado desde ayer y no puedo entrar."),
        ("name_cue_no_name", "Me llamaron tres veces y nadie habló."),
        ("name_cue_no_name", "Soy cliente de toda la vida y esto no me había pasado nunca."),
        ("name_cue_no_name", "Quedo a la espera.\n\nUn saludo"),
    ],
    "fr": [
        ("order_number", "Bonjour, ma commande {ORDER} n'est toujours pas partie."),
        ("order_number", "La commande n° {ORDERNO} est arrivée avec un article manquant."),
        ("order_number", "vous pouvez annuler la commande {ORDER} ? je me suis trompé de couleur"),
        ("order_number", "Commande {ORDER} du {DATE} : payé {AMOUNT}, toujours pas de suivi."),
        ("date", "La livraison était prévue le {DATE} et toujours rien."),
        ("date", "J'ai passé commande le {DATE} et j'ai été débité à nouveau le {DATE2}."),
        ("time", "Le chat s'est fermé à {TIME} alors que j'écrivais encore."),
        ("time", "Le magasin indique une ouverture à {TIME}, mais c'était fermé."),
        ("amount", "On m'a débité {AMOUNT} au lieu de {AMOUNT2}, vous pouvez vérifier ?"),
        ("amount", "Les frais de port de {FEE} sont-ils remboursables ?"),
        ("version", "L'appli plante au démarrage depuis la version {VERSION}."),
        ("version", "Je suis sur la version {VERSION} et le bouton de sauvegarde a disparu."),
        ("version", "Toujours le même bug avec le build {BUILD}."),
        ("article_id", "L'article d'aide {ARTICLE} dit de réinstaller, mais ça n'a rien changé."),
        ("article_id", "L'article {ARTICLE} n'est plus à jour, le menu a changé."),
        ("ticket", "Du nouveau sur la demande {TICKET} ? Personne n'a répondu."),
        ("ticket", "Je reviens vers vous pour le dossier {TICKET}, le problème est revenu."),
        ("tracking", "Le suivi {TRACKING} indique livré mais je n'ai rien reçu."),
        ("tracking", "le numéro de suivi {TRACKING} ne marche pas sur le site du transporteur"),
        ("error_code", "J'ai l'erreur {ERROR} quand j'essaie de payer."),
        ("error_code", "La mise à jour a encore échoué avec l'erreur {ERROR}."),
        ("size", "La sauvegarde bloque à {SIZE} et ne se termine pas."),
        ("percentage", "La promo annonçait {PCT} de réduction mais elle n'a pas été appliquée."),
        ("percentage", "L'envoi s'arrête toujours à {PROGRESS}."),
        ("otp_code", "Le code {OTP} n'est pas arrivé à temps et maintenant il est expiré."),
        ("otp_code", "J'ai saisi le code de vérification {OTP} mais il est refusé."),
        ("invalid_card", "Sur mon relevé il y a la référence de transaction {BADCARD}, ça peut aider ?"),
        ("invalid_card", "La page de paiement affiche l'exemple {BADCARD} dans le champ carte, c'est un bug ?"),
        ("invalid_iban", "Le formulaire affiche l'IBAN d'exemple {BADIBAN}, ça m'a embrouillé."),
        ("invalid_iban", "Dans la FAQ il y a {BADIBAN} comme IBAN d'exemple, c'est bien le format attendu ?"),
        ("short_number", "J'étais le numéro {SHORT} dans la file d'attente et ça a coupé."),
        ("short_number", "Le serveur vocal me dit de taper {KEY} mais rien ne se passe."),
        ("quantity", "J'ai commandé {QTY} et je n'en ai reçu que deux."),
        ("year", "Je suis client depuis {YEAR} et je n'ai jamais eu ce problème."),
        ("url", "J'ai suivi {URL} mais la page reste blanche."),
        ("invoice_number", "La facture {INVOICE} a une TVA erronée."),
        ("coupon", "Le code promo {COUPON} ne marche pas au paiement."),
        ("device_model", "Sur mon {MODEL} les notifications n'apparaissent pas."),
        ("device_model", "Depuis la mise à jour de mon {MODEL} vers {OS}, l'appli ne s'ouvre plus."),
        ("name_cue_no_name", "Mon nom est mal orthographié sur mon profil, comment le corriger ?"),
        ("name_cue_no_name", "Je suis bloqué depuis hier, impossible de me connecter."),
        ("name_cue_no_name", "Je suis le titulaire du compte et je ne peux pas changer le mot de passe."),
        ("name_cue_no_name", "c'est encore moi, toujours pas de réponse"),
        ("name_cue_no_name", "Mon nom n'apparaît pas sur la facture."),
        ("name_cue_no_name", "Je suis très déçu du service."),
        ("name_cue_no_name", "Vous pouvez m'appeler quand vous voulez, le chat est trop lent."),
        ("name_cue_no_name", "Dans l'attente de votre retour.\n\nCordialement"),
    ],
    "de": [
        ("order_number", "Hallo, meine Bestellung {ORDER} ist immer noch nicht verschickt."),
        ("order_number", "Bestellnummer {ORDERNO}: ein Artikel fehlt im Paket."),
        ("order_number", "könnt ihr die bestellung {ORDER} stornieren? falsche farbe erwischt"),
        ("order_number", "Bestellung {ORDER} vom {DATE}: {AMOUNT} bezahlt, immer noch keine Sendungsverfolgung."),
        ("date", "Die Lieferung war für den {DATE} angekündigt, bisher nichts."),
        ("date", "Ich habe am {DATE} bestellt und am {DATE2} wurde erneut abgebucht."),
        ("time", "Der Chat wurde um {TIME} beendet, während ich noch geschrieben habe."),
        ("time", "Laut Website öffnet die Filiale um {TIME}, sie war aber zu."),
        ("amount", "Mir wurden {AMOUNT} statt {AMOUNT2} abgebucht, können Sie das prüfen?"),
        ("amount", "Werden die Versandkosten von {FEE} erstattet?"),
        ("version", "Die App stürzt seit Version {VERSION} beim Start ab."),
        ("version", "Ich bin auf Version {VERSION} und der Backup-Button ist weg."),
        ("version", "Mit Build {BUILD} tritt der Fehler immer noch auf."),
        ("article_id", "Im Hilfeartikel {ARTICLE} steht, man soll neu installieren, hat aber nichts gebracht."),
        ("article_id", "Der Artikel {ARTICLE} ist veraltet, das Menü sieht anders aus."),
        ("ticket", "Gibt es etwas Neues zu Ticket {TICKET}? Niemand hat geantwortet."),
        ("ticket", "Ich melde mich nochmal wegen Vorgang {TICKET}, das Problem ist zurück."),
        ("tracking", "Sendungsnummer {TRACKING} zeigt zugestellt, aber ich habe nichts bekommen."),
        ("tracking", "die sendungsnummer {TRACKING} geht auf der seite vom paketdienst nicht"),
        ("error_code", "Beim Bezahlen kommt immer Fehler {ERROR}."),
        ("error_code", "Das Update ist wieder mit Fehler {ERROR} fehlgeschlagen."),
        ("size", "Das Backup bleibt bei {SIZE} hängen."),
        ("percentage", "In der Aktion stand {PCT} Rabatt, der wurde aber nicht abgezogen."),
        ("percentage", "Der Upload bleibt immer bei {PROGRESS} stehen."),
        ("otp_code", "Der Code {OTP} kam nicht rechtzeitig an und ist jetzt abgelaufen."),
        ("otp_code", "Ich habe den Bestätigungscode {OTP} eingegeben, aber er wird abgelehnt."),
        ("invalid_card", "Auf dem Kontoauszug steht die Transaktionsreferenz {BADCARD}, hilft das?"),
        ("invalid_card", "Auf der Bezahlseite steht das Beispiel {BADCARD} im Kartenfeld, ist das ein Fehler?"),
        ("invalid_iban", "Im Formular steht die Beispiel-IBAN {BADIBAN}, das hat mich verwirrt."),
        ("invalid_iban", "In den FAQ steht {BADIBAN} als Beispiel-IBAN, ist das das richtige Format?"),
        ("short_number", "Ich war Nummer {SHORT} in der Warteschlange, dann war die Leitung weg."),
        ("short_number", "Die Ansage sagt, ich soll die {KEY} drücken, aber nichts passiert."),
        ("quantity", "Ich habe {QTY} bestellt und nur zwei bekommen."),
        ("year", "Ich bin seit {YEAR} Kunde und hatte das Problem noch nie."),
        ("url", "Ich habe {URL} aufgerufen, aber die Seite bleibt leer."),
        ("invoice_number", "Auf der Rechnung {INVOICE} ist die Mehrwertsteuer falsch."),
        ("coupon", "Der Gutscheincode {COUPON} funktioniert an der Kasse nicht."),
        ("device_model", "Auf meinem {MODEL} werden keine Benachrichtigungen angezeigt."),
        ("device_model", "Seit dem Update auf {OS} startet die App auf meinem {MODEL} nicht mehr."),
        ("name_cue_no_name", "Mein Name ist falsch geschrieben, wie kann ich das ändern?"),
        ("name_cue_no_name", "Ich bin seit gestern ausgesperrt und komme nicht rein."),
        ("name_cue_no_name", "Ich bin der Kontoinhaber, kann aber das Passwort nicht ändern."),
        ("name_cue_no_name", "ich bins nochmal, immer noch nicht gelöst"),
        ("name_cue_no_name", "Mein Name fehlt auf der Rechnung."),
        ("name_cue_no_name", "Ich bin echt enttäuscht vom Service."),
        ("name_cue_no_name", "Wie ich heiße, steht doch im Profil, warum fragt der Bot immer wieder?"),
        ("name_cue_no_name", "Ich freue mich auf Ihre Antwort.\n\nMit freundlichen Grüßen"),
    ],
}

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"],
    "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre",
           "novembre", "dicembre"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"],
}

# Each benign slot generator takes (lang, ctx) and returns (value, spelling tag).
# ctx is shared by the slots of one row (so a second date follows the first, and
# two amounts use the same currency).


def ordinal(n):
    if 11 <= n <= 13:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _fmt_date(lang, dt, style):
    y, m, d = dt.year, dt.month, dt.day
    mn = MONTHS[lang][m - 1]
    table = {
        "en": {"iso": f"{y}-{m:02d}-{d:02d}", "mdy_slash": f"{m:02d}/{d:02d}/{y}", "month_ordinal": f"{mn} {ordinal(d)}",
               "d_month_y": f"{d} {mn} {y}", "mon_d": f"{mn[:3]} {d}", "dmy_slash": f"{d:02d}/{m:02d}/{y}"},
        "pt": {"dmy_slash": f"{d:02d}/{m:02d}/{y}", "d_de_month": f"{d} de {mn}", "dm_slash": f"{d:02d}/{m:02d}",
               "iso": f"{y}-{m:02d}-{d:02d}"},
        "it": {"dmy_slash": f"{d:02d}/{m:02d}/{y}", "d_month_y": f"{d} {mn} {y}", "dm_slash": f"{d:02d}/{m:02d}",
               "dmy_dash": f"{d:02d}-{m:02d}-{y}"},
        "es": {"dmy_slash": f"{d:02d}/{m:02d}/{y}", "d_de_month_de_y": f"{d} de {mn} de {y}", "dm_slash": f"{d}/{m}",
               "iso": f"{y}-{m:02d}-{d:02d}"},
        "fr": {"dmy_slash": f"{d:02d}/{m:02d}/{y}", "d_month_y": f"{d} {mn} {y}", "dm_slash": f"{d:02d}/{m:02d}",
               "iso": f"{y}-{m:02d}-{d:02d}"},
        "de": {"dmy_dots": f"{d:02d}.{m:02d}.{y}", "d_month_y": f"{d}. {mn} {y}", "dm_dots": f"{d}.{m}.",
               "iso": f"{y}-{m:02d}-{d:02d}"},
    }[lang]
    if style is None:
        style = rng.choice(list(table))
    return table[style], style


def b_date(lang, ctx):
    dt = datetime.date(2023, 1, 1) + datetime.timedelta(days=rng.randint(0, 1000))
    if dt.day == 1:
        dt += datetime.timedelta(days=1)
    ctx["date"] = dt
    return _fmt_date(lang, dt, None)


def b_date2(lang, ctx):
    dt = ctx["date"] + datetime.timedelta(days=rng.randint(3, 45))
    if dt.day == 1:
        dt += datetime.timedelta(days=1)
    return _fmt_date(lang, dt, None)


def b_time(lang, ctx):
    h, mi = rng.randint(7, 22), rng.choice([0, 15, 30, 45, 5, 50])
    h12, ap = (h - 1) % 12 + 1, ("pm" if h >= 12 else "am")
    opts = {
        "en": [(f"{h:02d}:{mi:02d}", "24h"), (f"{h12}:{mi:02d} {ap}", "12h"), (f"{h12}{ap}", "12h_short")],
        "pt": [(f"{h}h{mi:02d}", "h_sep"), (f"{h:02d}:{mi:02d}", "24h"), (f"{h}h", "h_only")],
        "it": [(f"{h:02d}:{mi:02d}", "24h"), (f"{h}.{mi:02d}", "dot_sep")],
        "es": [(f"{h:02d}:{mi:02d}", "24h"), (f"{h}:{mi:02d}", "24h_short")],
        "fr": [(f"{h}h{mi:02d}", "h_sep"), (f"{h}h", "h_only"), (f"{h:02d}:{mi:02d}", "24h")],
        "de": [(f"{h:02d}:{mi:02d} Uhr", "24h_uhr"), (f"{h} Uhr", "uhr_only"), (f"{h}.{mi:02d} Uhr", "dot_uhr")],
    }[lang]
    return rng.choice(opts)


def _num(x, th, dec):
    whole, cents = f"{x:.2f}".split(".")
    parts = []
    while len(whole) > 3:
        parts.insert(0, whole[-3:])
        whole = whole[:-3]
    parts.insert(0, whole)
    return th.join(parts) + dec + cents


AMOUNT_STYLES = {
    "en": [("usd", lambda x: f"${_num(x, ',', '.')}"), ("gbp", lambda x: f"£{_num(x, ',', '.')}"),
           ("eur_prefix", lambda x: f"€{_num(x, ',', '.')}"), ("usd_code", lambda x: f"USD {_num(x, ',', '.')}")],
    "pt": [("brl", lambda x: f"R$ {_num(x, '.', ',')}"), ("brl_tight", lambda x: f"R${_num(x, '.', ',')}"),
           ("eur_suffix", lambda x: f"{_num(x, '.', ',')} €"), ("eur_tight", lambda x: f"{_num(x, ' ', ',')}€")],
    "it": [("eur_prefix", lambda x: f"€ {_num(x, '.', ',')}"), ("eur_suffix", lambda x: f"{_num(x, '.', ',')} €"),
           ("eur_tight", lambda x: f"€{_num(x, '.', ',')}"), ("euro_word", lambda x: f"{_num(x, '.', ',')} euro")],
    "es": [("eur_suffix", lambda x: f"{_num(x, '.', ',')} €"), ("eur_tight", lambda x: f"{_num(x, '.', ',')}€"),
           ("euros_word", lambda x: f"{_num(x, '.', ',')} euros")],
    "fr": [("eur_nnbsp", lambda x: f"{_num(x, NNBSP, ',')}{NBSP}€"), ("eur_space", lambda x: f"{_num(x, ' ', ',')} €"),
           ("eur_nbsp", lambda x: f"{_num(x, NBSP, ',')} €"), ("chf", lambda x: f"CHF {_num(x, '', '.')}")],
    "de": [("eur_suffix", lambda x: f"{_num(x, '.', ',')} €"), ("eur_code", lambda x: f"{_num(x, '.', ',')} EUR"),
           ("chf_apostrophe", lambda x: f"CHF {_num(x, chr(39), '.')}"), ("eur_prefix", lambda x: f"€{_num(x, '.', ',')}")],
}


def _amount(lang, ctx, lo, hi):
    if "amount_style" not in ctx:
        ctx["amount_style"] = rng.choice(AMOUNT_STYLES[lang])
    tag, fmt = ctx["amount_style"]
    x = rng.randint(lo, hi) + rng.choice([0.0, 0.5, 0.9, 0.99, 0.49])
    return fmt(x), tag


def b_amount(lang, ctx):
    return _amount(lang, ctx, *rng.choice([(5, 99), (100, 2500)]))


def b_fee(lang, ctx):
    return _amount(lang, ctx, 3, 29)


def b_version(lang, ctx):
    return rng.choice([(f"{rng.randint(2, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 12)}", "semver"),
                       (f"v{rng.randint(2, 3)}.{rng.randint(20, 26)}.{rng.randint(1, 20)}.{rng.randint(10, 99)}", "v_four_part"),
                       (f"{rng.randint(1, 4)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}-beta.{rng.randint(1, 5)}", "prerelease"),
                       (f"{rng.randint(2, 3)}.{rng.randint(20, 26)}.{rng.randint(1, 20)}.{rng.randint(10, 99)}", "four_part")])


def b_os(lang, ctx):
    model = ctx.get("model")
    if model:
        if model.startswith("iP"):
            return f"iOS {rng.randint(16, 18)}.{rng.randint(0, 6)}.{rng.randint(1, 3)}", "ios"
        return f"Android {rng.randint(13, 15)}", "android"
    return rng.choice([(f"iOS {rng.randint(16, 18)}.{rng.randint(0, 6)}.{rng.randint(1, 3)}", "ios"),
                       (f"Android {rng.randint(12, 15)}", "android"),
                       (f"iOS {rng.randint(16, 18)}.{rng.randint(1, 6)}", "ios")])


SLUGS = {"en": ["chat-backup", "reset-password", "refund-policy", "delete-account"],
         "pt": ["backup-de-conversas", "redefinir-senha", "politica-de-reembolso"],
         "it": ["backup-chat", "reimpostare-password", "politica-rimborsi"],
         "es": ["copia-de-seguridad", "restablecer-contrasena", "politica-de-reembolsos"],
         "fr": ["sauvegarde-discussions", "reinitialiser-mot-de-passe", "politique-remboursement"],
         "de": ["chat-sicherung", "passwort-zuruecksetzen", "rueckerstattung"]}
HELP_HOSTS = {"en": "help.novashop.com/en", "pt": "ajuda.novashop.com.br/pt-BR", "it": "assistenza.novashop.it/it",
              "es": "ayuda.novashop.es/es", "fr": "aide.novashop.fr/fr", "de": "hilfe.novashop.de/de"}


def b_article(lang, ctx):
    return rng.choice([(f"{lang}/{rng.choice(SLUGS[lang])}", "slug"), (f"KB-{rng.randint(1000, 9999)}", "kb_id"),
                       (f"#{rng.randint(20000, 99999)}", "hash_number"),
                       (f"{lang}/{rng.choice(SLUGS[lang])}#step-{rng.randint(2, 6)}", "slug_anchor")])


def b_ticket(lang, ctx):
    return rng.choice([(f"#{rng.randint(10000, 99999)}", "hash_number"),
                       (f"{rng.randint(2023, 2025)}-{rng.randint(101, 1231):04d}-{rng.randint(1, 999):04d}", "dated"),
                       (f"CS-{rng.randint(100000, 999999)}", "prefixed"), (f"TKT-{rng.randint(100, 99999):05d}", "prefixed"),
                       (f"INC{rng.randint(100000, 999999)}", "prefixed")])


def s10(prefix, country):
    body = rdigits(8)
    s = sum(int(c) * w for c, w in zip(body, [8, 6, 4, 2, 3, 5, 9, 7]))
    chk = 11 - s % 11
    chk = {10: 0, 11: 5}.get(chk, chk)
    return f"{prefix}{body}{chk}{country}"


def b_tracking(lang, ctx):
    cc = {"en": "GB", "pt": rng.choice(["BR", "PT"]), "it": "IT", "es": "ES", "fr": "FR", "de": "DE"}[lang]
    return rng.choice([(s10(rng.choice(["RR", "LB", "CP", "LX", "RA"]), cc), "upu_s10"),
                       ("1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(6)) + rdigits(10), "ups_1z"),
                       ("JJD" + rdigits(18), "dhl_jjd")])


def b_error(lang, ctx):
    return rng.choice([(f"0x{rng.choice(['80070005', '800F081F', '80004005', '8007000E', 'C1900101'])}", "hex"),
                       (str(rng.choice([404, 500, 502, 503, 403, 429])), "http_status"),
                       (f"E-{rng.randint(1000, 1999)}", "prefixed"),
                       (rng.choice(["ERR_NETWORK_CHANGED", "ERR_CONNECTION_RESET", "PAYMENT_DECLINED_51"]), "symbolic")])


def b_size(lang, ctx):
    unit = rng.choice(["GB", "MB", "GB"])
    x = str(rng.choice([128, 256, 512, 750, 900])) if unit == "MB" else \
        rng.choice([f"{rng.randint(1, 9)}.{rng.randint(1, 9)}", str(rng.randint(2, 64))])
    if lang != "en":
        x = x.replace(".", ",")
    if lang == "fr":
        return f"{x}{NBSP}{'Go' if unit == 'GB' else 'Mo'}", "nbsp_unit"
    return f"{x} {unit}", "space_unit"


def _pct(lang, x):
    if lang == "fr":
        return f"{x}{NBSP}%", "nbsp"
    if lang == "de" and rng.random() < 0.5:
        return f"{x} %", "space"
    return f"{x}%", "plain"


def b_pct(lang, ctx):
    return _pct(lang, str(rng.choice([10, 15, 20, 25, 30, 40, 50, 70])))


def b_progress(lang, ctx):
    return _pct(lang, rng.choice([str(rng.randint(11, 99)), f"{rng.randint(11, 98)}{'.' if lang == 'en' else ','}5"]))


def b_badcard(lang, ctx):
    while True:
        pre = rng.choice(["4", "5" + str(rng.randint(1, 5)), "4", "6011"])
        d = pre + rdigits(16 - len(pre))
        if not luhn_ok(d):
            break
    g = group4(d)
    return rng.choice([(" ".join(g), "spaced"), ("-".join(g), "dash"), (d, "plain")])


def b_badiban(lang, ctx):
    cc = {"en": rng.choice(["GB", "DE"]), "pt": "PT", "it": "IT", "es": "ES", "fr": "FR", "de": "DE"}[lang]
    if rng.random() < 0.3:  # an all-zero placeholder
        s = cc + "00" + "0" * (IBAN_LEN[cc] - 4)
        if cc == "GB":
            s = "GB00XXXX" + "0" * 14
        if cc == "IT":
            s = "IT00X" + "0" * 22
        tag = "placeholder_zeros"
    else:
        good = iban_from_bban(cc, gen_bban(cc))
        while True:
            s = good[:2] + f"{rng.randint(2, 98):02d}" + good[4:]
            if not iban_mod97_ok(s):
                break
        tag = "wrong_check_digits"
    assert not iban_ok(s)
    return " ".join(group4(s)), tag


def b_qty(lang, ctx):
    nouns = {"en": ["packs", "units", "bottles", "pairs"], "pt": ["unidades", "garrafas", "caixas"],
             "it": ["confezioni", "bottiglie", "cartucce"], "es": ["unidades", "botellas", "cajas"],
             "fr": ["boîtes", "bouteilles", "paires"], "de": ["Stück", "Flaschen", "Packungen"]}[lang]
    return f"{rng.randint(3, 12)} {rng.choice(nouns)}", "number_noun"


def b_url(lang, ctx):
    host = HELP_HOSTS[lang]
    return rng.choice([(f"https://{host}/articles/{rng.randint(360000000, 360099999)}", "https_article_id"),
                       (f"https://{host}/{rng.choice(SLUGS[lang])}", "https_slug"),
                       (f"{host.split('/')[0]}/{rng.choice(SLUGS[lang])}", "bare_host")])


def b_invoice(lang, ctx):
    y = rng.randint(2023, 2025)
    return {"en": (f"INV-{y}-{rng.randint(1, 99999):05d}", "prefixed"),
            "pt": rng.choice([(f"FT {y}/{rng.randint(1, 9999)}", "series_slash"), (f"NF-e {rng.randint(1000, 99999)}", "prefixed")]),
            "it": (f"FT/{y}/{rng.randint(1, 9999):04d}", "series_slash"), "es": (f"F{y}-{rng.randint(1, 99999):05d}", "prefixed"),
            "fr": (f"FA-{y}-{rng.randint(1, 9999):04d}", "prefixed"), "de": (f"RE-{y}-{rng.randint(1, 99999):05d}", "prefixed")}[lang]


def b_coupon(lang, ctx):
    word = {"en": ["WELCOME", "SPRING", "SAVE"], "pt": ["BEMVINDO", "FRETEGRATIS", "VERAO"],
            "it": ["BENVENUTO", "ESTATE", "SCONTO"], "es": ["BIENVENIDO", "VERANO", "AHORRA"],
            "fr": ["BIENVENUE", "ETE", "PROMO"], "de": ["WILLKOMMEN", "SOMMER", "SPAREN"]}[lang]
    return rng.choice(word) + str(rng.choice([10, 15, 20, 24, 25, 2024, 2025])), "word_number"


def b_order(lang, ctx):
    return rng.choice([(f"#A-{rng.randint(10000, 99999)}", "hash_alpha"), (f"#{rng.randint(1000000, 9999999)}", "hash_digits"),
                       (str(rng.randint(100000, 999999)), "digits6"), (str(rng.randint(30000000, 30999999)), "digits8"),
                       (f"NS-{rng.randint(100000, 999999)}", "prefixed")])


def b_orderno(lang, ctx):
    return rng.choice([(str(rng.randint(100000, 999999)), "digits6"), (str(rng.randint(1000000, 9999999)), "digits7"),
                       (str(rng.randint(30000000, 30999999)), "digits8")])


def b_model(lang, ctx):
    ctx["model"] = rng.choice(["iPhone 13 Pro", "Galaxy S23", "Pixel 8", "Redmi Note 12", "Moto G84", "iPad Air",
                               "Galaxy A54", "iPhone 15"])
    return ctx["model"], "device_name"


BSLOTS = {
    "ORDER": b_order, "ORDERNO": b_orderno, "DATE": b_date, "DATE2": b_date2, "TIME": b_time,
    "AMOUNT": b_amount, "AMOUNT2": b_amount, "FEE": b_fee, "VERSION": b_version, "OS": b_os,
    "BUILD": lambda lang, ctx: (str(rng.randint(2400000, 2599999)), "build_number"),
    "ARTICLE": b_article, "TICKET": b_ticket, "TRACKING": b_tracking, "ERROR": b_error, "SIZE": b_size,
    "PCT": b_pct, "PROGRESS": b_progress,
    "OTP": lambda lang, ctx: (rdigits(n := rng.choice([6, 6, 4, 8])), f"digits{n}"),
    "BADCARD": b_badcard, "BADIBAN": b_badiban,
    "SHORT": lambda lang, ctx: (str(rng.randint(7, 140)), "queue_position"),
    "KEY": lambda lang, ctx: (str(rng.randint(1, 9)), "menu_key"), "QTY": b_qty,
    "YEAR": lambda lang, ctx: (str(rng.randint(2012, 2023)), "year"),
    "URL": b_url, "INVOICE": b_invoice, "COUPON": b_coupon,
    "MODEL": b_model,
}
BSLOT_RE = re.compile(r"\{([A-Z0-9]+)\}")


def fill_benign(lang, template):
    """Returns (text, spelling): the spelling is the tag of the template's first slot."""
    ctx, used, tags = {}, [], []

    def rep(m):
        key = m.group(1)
        for _ in range(20):
            v, tag = BSLOTS[key](lang, ctx)
            if v not in used:
                break
        used.append(v)
        tags.append(tag)
        return v
    text = BSLOT_RE.sub(rep, template)
    if not tags:
        tags = ["signoff" if "\n" in text else ("lowercase" if text == text.lower() else "plain")]
    return text, tags[0]


# ---------------------------------------------------------------------------
# Scanner: finds anything personal-looking that passes a validator. Used to make
# sure benign rows contain none and pii rows contain nothing unlabelled.
# ---------------------------------------------------------------------------
REGIONS_FOR_LANG = {"en": ["US", "GB"], "pt": ["BR", "PT"], "it": ["IT"], "es": ["ES"], "fr": ["FR"], "de": ["DE"]}
DIGIT_RUN_RE = re.compile(r"\d(?:[ \-./\u00a0\u202f]{0,2}\d)+")


def scan(text, lang, phones=True):
    hits = []
    t = unicodedata.normalize("NFKC", text)
    for m in re.finditer(r"[^\s()<>,;:]+@[^\s()<>,;:]+\.[^\s()<>,;:]+", t):
        hits.append(("email", m.group(0)))
    for m in DIGIT_RUN_RE.finditer(t):
        # every span of whole digit groups ("123 456 789" -> 123, 456, 789, 123456, ...)
        groups = re.split(r"[ \-./\u00a0\u202f]+", m.group(0))
        for i in range(len(groups)):
            for j in range(i + 1, len(groups) + 1):
                w = "".join(groups[i:j])
                n = len(w)
                if 13 <= n <= 19 and luhn_ok(w) and card_brand_of(w):
                    hits.append(("card", w))
                if n == 11 and (cpf_ok(w) or steuer_ok(w)):
                    hits.append(("cpf/steuer", w))
                if n == 9 and nif_ok(w):
                    hits.append(("nif", w))
                if n == 15 and nir_ok(w):
                    hits.append(("nir", w))
                if n == 14 and cnpj_ok(w):
                    hits.append(("cnpj", w))
    for m in re.finditer(r"\b\d{3}-\d{2}-\d{4}\b", t):
        if ssn_ok(m.group(0)):
            hits.append(("ssn", m.group(0)))
    for m in re.finditer(r"(?i)\b([A-Z]{2}\d{2}(?:[ \u00a0]?[A-Z0-9]){10,30})", t):
        s = re.sub(r"\s", "", m.group(1)).upper()
        cc = s[:2]
        if cc in IBAN_LEN and len(s) >= IBAN_LEN[cc] and iban_mod97_ok(s[:IBAN_LEN[cc]]):
            hits.append(("iban", m.group(1)))
    for m in re.finditer(r"(?i)\b[XYZ]?[\d.]{7,10}[- ]?[A-Z]\b", t):
        if dni_ok(m.group(0)):
            hits.append(("dni", m.group(0)))
    for m in re.finditer(r"(?i)\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b", t):
        if cf_ok(m.group(0)):
            hits.append(("cf", m.group(0)))
    for m in re.finditer(r"(?i)\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", t):
        if nino_ok(m.group(0)):
            hits.append(("nino", m.group(0)))
    if phones:
        hits += [("phone", raw) for raw in phone_matches(t, lang)]
    return hits


def phone_matches(text, lang):
    out = []
    for region in REGIONS_FOR_LANG[lang]:
        for pm in PhoneNumberMatcher(text, region, leniency=Leniency.VALID):
            out.append(pm.raw_string)
    return out


# ---------------------------------------------------------------------------

def build():
    rows = []
    counters = Counter()

    def next_id(kind, cat, lang):
        key = (kind, cat, lang)
        counters[key] += 1
        return f"{kind}-{cat.lower()}-{lang}-{counters[key]:03d}"

    seen = set()
    for cat in PII_CATS:
        for lang in LANGS:
            templates = list(PII_T[lang][cat])
            order = list(range(len(templates)))
            rng.shuffle(order)
            forms = main_forms(cat, lang, PII_PER_CELL)
            for i in range(PII_PER_CELL):
                t = templates[order[i % len(order)]]
                scheme = None
                if cat == "ID":
                    scheme, t = t
                for attempt in range(60):
                    text, values, spelling = fill_pii(lang, cat, t, forms[i], scheme)
                    masked = text
                    for v in sorted(values, key=len, reverse=True):
                        masked = masked.replace(v, " ")
                    leftovers = scan(masked, lang)
                    if text not in seen and not leftovers:
                        break
                else:
                    raise GenError(f"could not fill {cat}/{lang}: {t!r} leftovers={leftovers}")
                seen.add(text)
                for v in values:
                    assert v and v.strip() == v, (v, text)
                    assert text.count(v) == 1, (v, text)
                    i = text.index(v)
                    before, after = text[i - 1:i], text[i + len(v):i + len(v) + 1]
                    assert not (before.isalnum() or after.isalnum()), ("value glued to a word", v, text)
                rows.append({"id": next_id("pii", cat, lang), "lang": lang, "kind": "pii", "category": cat,
                             "text": text, "values": values, "spelling": spelling})

    for lang in LANGS:
        templates = BENIGN_T[lang]
        slotless = [(c, t) for c, t in templates if not BSLOT_RE.search(t)]
        slotful = [(c, t) for c, t in templates if BSLOT_RE.search(t)]
        plan = list(slotless)
        k = 0
        while len(plan) < BENIGN_PER_LANG:
            plan.append(slotful[k % len(slotful)])
            k += 1
        for cat, t in plan:
            for attempt in range(60):
                text, spelling = fill_benign(lang, t)
                # Checksum validators must not fire by coincidence. Phone look-alikes (dates,
                # order numbers that libphonenumber would accept) are kept: they are the
                # hard negatives this set is for; main() reports how many there are.
                hits = scan(text, lang, phones=False)
                if text not in seen and not hits:
                    break
            else:
                raise GenError(f"benign {lang} {t!r} keeps matching {hits}")
            seen.add(text)
            rows.append({"id": next_id("benign", cat, lang), "lang": lang, "kind": "benign", "category": cat,
                         "text": text, "values": [], "spelling": spelling})
    return rows


def self_test():
    """Known-good reference values for every checker."""
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89370400440532013000") and iban_ok("DE89 3704 0044 0532 0130 00")
    assert iban_ok("IT60X0542811101000000123456")
    assert iban_ok("ES9121000418450200051332")
    assert iban_ok("PT50000201231234567890154")
    assert iban_ok("BE68539007547034")
    assert iban_ok("NL91ABNA0417164300")
    assert iban_ok("GB29NWBK60161331926819")
    assert iban_ok("CH9300762011623852957")
    assert iban_ok("AT611904300234573201")
    assert iban_ok("IE29AIBK93115212345678")
    assert iban_ok("BR1800360305000010009795493C1") and iban_ok("BR9700360305000010009795493P1")
    assert iban_ok("FR7630006000011234567890189")
    assert not iban_ok("DE88370400440532013000")
    assert cpf_ok("529.982.247-25") and not cpf_ok("529.982.247-26") and not cpf_ok("111.111.111-11")
    assert cnpj_ok("11.222.333/0001-81")
    assert nif_ok("123456789") and not nif_ok("123456780")
    assert dni_ok("12345678Z") and dni_ok("X1234567L") and not dni_ok("12345678A")
    assert cf_ok("RSSMRA85T10A562S") and not cf_ok("RSSMRA85T10A562T")
    assert nir_ok("1 85 05 78 006 084 91") and not nir_ok("1 85 05 78 006 084 36")
    assert steuer_ok("86095742719") and not steuer_ok("86095742718")
    assert ssn_ok("123-45-6789") and not ssn_ok("666-45-6789") and not ssn_ok("123-00-6789")
    assert nino_ok("AB 12 34 56 C") and not nino_ok("QQ 12 34 56 C") and not nino_ok("GB123456A")
    assert email_ok("josé.gonçalves@exemplo.com.br") and email_ok("info@bücher.de") and email_ok("a+b@x.co.uk")
    assert not email_ok("a..b@x.com") and not email_ok("a@x")
    assert _cf_part("Rossi", False) == "RSS" and _cf_part("Mario", True) == "MRA"


def main():
    self_test()
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

    by_kind = Counter(r["kind"] for r in rows)
    print(f"wrote {len(rows)} rows to {OUT.relative_to(ROOT)}: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())))
    for kind in ("pii", "benign"):
        cats = sorted({r["category"] for r in rows if r["kind"] == kind})
        print(f"\n{kind}: category " + " ".join(f"{l:>4}" for l in LANGS) + " total")
        for c in cats:
            per = Counter(r["lang"] for r in rows if r["kind"] == kind and r["category"] == c)
            print(f"  {c:<18}" + " ".join(f"{per[l]:>4}" for l in LANGS) + f" {sum(per.values()):>5}")
        per = Counter(r["lang"] for r in rows if r["kind"] == kind)
        print(f"  {'(all)':<18}" + " ".join(f"{per[l]:>4}" for l in LANGS) + f" {sum(per.values()):>5}")
    flagged = [r for r in rows if r["kind"] == "benign" and phone_matches(unicodedata.normalize("NFKC", r["text"]), r["lang"])]
    print(f"\nbenign rows in which libphonenumber's matcher (leniency VALID, the language's regions) finds a 'phone': "
          f"{len(flagged)} ({', '.join(r['id'] for r in flagged)})")
    multi = sum(1 for r in rows if len(r["values"]) > 1)
    print(f"\npii rows with two values: {multi}")
    print("\nspellings per pii category:")
    for c in PII_CATS:
        sp = Counter(r["spelling"] for r in rows if r["kind"] == "pii" and r["category"] == c)
        print(f"  {c}: " + ", ".join(f"{k} {v}" for k, v in sorted(sp.items())))


if __name__ == "__main__":
    main()
