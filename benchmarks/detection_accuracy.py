"""Detection accuracy: how often extract_numbers returns exactly the planted numbers.

Generated inputs (fixed seeds): every example number of the detection tests plus random valid
numbers of 18 formats, each printed unbroken, in groups of 2–5 counted from either end, in the
carriers' own label styles, with spaces or dashes, in 46 contexts of Ukrainian, Russian, Polish
and English shop text (dates, times, prices, quantities, phone numbers, order numbers, house,
flat and postcode numbers beside it), in URLs, dashed to words, hard-wrapped across two lines,
and in pairs. An answer is correct when it is exactly the planted number(s); "wrong number"
counts inputs whose answer holds a number that was not planted (the worst outcome: the bot would
track a stranger's parcel). Hard-wrapped inputs (bare, and after a word announcing the parcel's
number) expect the number joined across the line break, which the bot does only for a number
with a check digit (or a Nova Poshta waybill; or an InPost number after such a word) of more
than 12 digits, printed regularly with nothing else on its two lines' ends. Two groups expect no
number at all: "typo" (every number with a check digit, one digit changed so that it fails,
printed the same ways: no piece of it may be taken) and "no number" (payment cards with a valid
Luhn digit, Ukrainian and Polish phone numbers as people print them, and lines of short digit
groups, in six contexts; IMEI, tax and company numbers in groups after their labels).

Written from a helper's regression harness (2026-11-26); the random numbers get their check
characters from bot.carriers.detect.identify itself.
"""
# ruff: noqa: E501

from __future__ import annotations

import argparse
import random
import string
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import print_command, print_machine, print_table
from bot.carriers.detect import extract_numbers, identify

VALID = [
    ("RA067022855UA", "s10"),
    ("LM951174328CN", "s10"),
    ("0500100031143", "ukrposhta-13"),
    ("0500100031135", "ukrposhta-13"),
    ("20400048799000", "nova-poshta-waybill"),
    ("59000777777777", "nova-poshta-waybill"),
    ("EV00000000000543NPI", "nova-poshta-global"),
    ("OG0212001001NPG", "nova-poshta-global"),
    ("SHPL6145344878", "nova-post-europe"),
    ("612345678901234567890123", "inpost-24"),
    ("523000015802677003881245", "inpost-24"),
    ("MYCV123456789PL", "meest-mycv"),
    ("1Z5R89390357567127", "ups-1z"),
    ("K1506235620", "ups-waybill"),
    ("986578788855", "fedex-express-12"),
    ("041441760228964", "fedex-ground-15"),
    ("000123450000000027", "fedex-sscc-18"),
    ("9611020987654312345672", "fedex-ground-96"),
    ("9622001900000000000000776632517510", "fedex-gsn-34"),
    ("1001921334250001000300779017972697", "fedex-express-34"),
    ("32971514560102447849175802862014", "fedex-astra-32"),
    ("9361289878909410176578", "usps-impb"),
    ("03071790000523483741", "usps-20"),
    ("3318810025", "dhl-express"),
    ("73891051146", "dhl-express"),
    ("JJD0099999999", "dhl-piece-id"),
    ("GM2951173225174494", "dhl-ecommerce-prefix"),
    ("TBM502887274000", "amazon-logistics"),
    ("C1004444443", "amazon-international"),
    ("09980000020033F", "dpd-15"),
    ("008182709980000020033350276C", "dpd-28"),
    ("YT2229521272164446", "yunexpress"),
]
MORE = [
    "9400111201080805483016",
    "9405803699300124287899",
    "92748931507708513018050063",
    "9505511069605048600624",
    "9101123456789000000013",
    "71969010756003077385",
    "420221539101026837331000039521",
    "4201002334249200190132607600833457",
    "477179081230",
    "568283610012734",
    "9632001560123456789900794808390594",
    "33810799560000004380417923803212",
    "J4603636537",
    "V0490119172",
    "RR473124829GB",
    "LX123456785CN",
    "9865787888554",
    "20511919754140",
    "0501234565",
    "60120172242323",
]
# Numbers led by a group starting with 0 after which a Nova Poshta-shaped piece ends them
# ("0 20 04 95 92 76 02 79": FedEx Ground in pairs from the right). Added 2026-11-26; kept
# out of the pairs so that the pairs' random sample stays as it was.
ZERO_LED = [
    "020049592760279",
    "059812345678907",
    "000020512345678904",
    "03071759001234567891",
]


def rule_of(n):
    m = identify(n)
    return m[0].rule if m else None


def fix(body, rule, alphabet=string.digits, pos=None):
    """Try every check character at pos (default last) until identify's first rule is `rule`."""
    pos = len(body) - 1 if pos is None else pos
    chars = list(alphabet)
    random.shuffle(chars)
    for c in chars:
        n = body[:pos] + c + body[pos + 1 :]
        if rule_of(n) == rule:
            return n
    return None


def rd(k):
    return "".join(random.choice(string.digits) for _ in range(k))


def random_numbers(seed=7, per=8):
    random.seed(seed)
    out = []

    def add(gen, rule, **kw):
        got = 0
        tries = 0
        while got < per and tries < 500:
            tries += 1
            n = fix(gen(), rule, **kw)
            if n and n not in [x for x, _ in out]:
                out.append((n, rule))
                got += 1

    S10SVC = ["RA", "RB", "RR", "LM", "LP", "LO", "CP", "EE", "UB", "UC", "UA", "CA", "LX", "RX"]
    S10C = ["UA", "CN", "PL", "GB", "US", "DE", "LT", "MD"]
    add(lambda: random.choice(S10SVC) + rd(8) + "0" + random.choice(S10C), "s10", pos=10)
    add(
        lambda: (
            "1Z"
            + "".join(random.choice(string.digits + "AEFRWXY") for _ in range(6))
            + rd(2)
            + rd(8)
        ),
        "ups-1z",
    )
    add(lambda: "1Z" + rd(6) + rd(2) + rd(8), "ups-1z")
    add(
        lambda: random.choice(["05000", "05001", "05004", "01001", "79000", "65000"]) + rd(8),
        "ukrposhta-13",
    )
    add(lambda: random.choice(["20", "59"]) + rd(12), "nova-poshta-waybill")
    add(lambda: rd(12), "fedex-express-12")
    add(lambda: random.choice(["7", "2", "4"]) + rd(11), "fedex-express-12")
    add(lambda: rd(15), "fedex-ground-15")
    add(lambda: "9400" + "1" + rd(17), "usps-impb-94")
    add(lambda: "9205" + "5" + rd(17), "usps-impb")
    add(lambda: rd(20), "usps-20")
    add(lambda: rd(24), "inpost-24")
    add(lambda: rd(10), "dhl-express")
    add(lambda: rd(11), "dhl-express")
    add(lambda: rd(14) + "0", "dpd-15", alphabet=string.digits + string.ascii_uppercase)
    add(lambda: "96" + rd(20), "fedex-ground-96")
    add(lambda: "TB" + random.choice("ACM") + rd(12), "amazon-logistics")
    add(lambda: "YT" + rd(16), "yunexpress")
    return out


def all_numbers(per=8):
    fixed = [(n, rule_of(n)) for n, _ in VALID] + [(n, rule_of(n)) for n in MORE]
    extra = [(n, rule_of(n)) for n in ZERO_LED]
    for n, r in fixed + extra:
        assert r, n
    return fixed, random_numbers(per=per), extra


def gl(n, k):  # groups of k from the left, last shorter
    return [n[i : i + k] for i in range(0, len(n), k)]


def gr(n, k):  # groups of k from the right, first shorter
    r = len(n) % k
    return ([n[:r]] if r else []) + [n[i : i + k] for i in range(r, len(n), k)]


def carrier_styles(n, rule):
    s = {}
    if rule == "s10":
        s["s10-label"] = [n[:2], n[2:5], n[5:8], n[8:11], n[11:]]
        s["s10-4"] = [n[:2], n[2:6], n[6:10], n[10:11], n[11:]]
        s["s10-svc-country"] = [n[:2], n[2:11], n[11:]]  # middle 9 > 6: unbroken group
        s["s10-tail"] = [n[:11], n[11:]]
    elif rule == "ups-1z":
        s["ups-label"] = [n[:2], n[2:5], n[5:8], n[8:10], n[10:14], n[14:]]
        s["ups-3"] = [n[:2], *gl(n[2:], 3)]
    elif rule == "nova-poshta-waybill":
        s["np-20-4"] = [n[:2], n[2:6], n[6:10], n[10:]]
    elif rule in ("usps-impb", "usps-impb-94", "usps-20", "usps-91"):
        s["usps-4"] = gl(n, 4)
    elif rule == "meest-mycv":
        s["meest"] = [n[:4], n[4:7], n[7:10], n[10:13], n[13:]]
    elif rule == "amazon-logistics":
        s["tba"] = [n[:3], n[3:6], n[6:9], n[9:12], n[12:]]
    elif rule == "yunexpress":
        s["yt"] = [n[:2], *gl(n[2:], 4)]
    elif rule == "nova-poshta-global":
        s["npg"] = [*gl(n[:-3], 4), n[-3:]]
    elif rule in ("dpd-15",):
        s["dpd-sep-check"] = [*gl(n[:14], 4), n[14:]]
    elif rule == "dhl-piece-id":
        s["jjd"] = [n[:3], *gl(n[3:], 4)]
    elif rule == "nova-post-europe":
        s["sh"] = [n[:4], *gl(n[4:], 4)]
    elif n.startswith("420") and len(n) in (30, 34):
        z = 8 if len(n) == 30 else 12
        s["usps-route"] = [n[:3], n[3:z], *gl(n[z:], 4)]
    return s


def styles(n, rule):
    out = {"plain": [n]}
    for k in (2, 3, 4, 5):
        if len(n) > k:
            out[f"g{k}L"] = gl(n, k)
            out[f"g{k}R"] = gr(n, k)
    out.update(carrier_styles(n, rule))
    # de-dup identical groupings
    seen, res = set(), {}
    for name, g in out.items():
        if tuple(g) not in seen:
            seen.add(tuple(g))
            res[name] = g
    return res


CONTEXTS = {
    "bare": "{n}",
    "uk-ttn": "ТТН {n}",
    "uk-ttn-colon": "ТТН: {n}",
    "uk-sentence": "Ваша посилка {n} прибула у відділення №12",
    "uk-number": "Номер відправлення: {n}.",
    "ru-nomer": "номер {n}, спасибо!",
    "ru-trek": "Трек-номер: {n}",
    "pl": "Nr przesyłki: {n}",
    "pl2": "Twoja paczka {n} została nadana.",
    "en": "Your tracking number is {n}.",
    "en-excl": "Tracking: {n}!",
    "paren": "({n})",
    "quotes": "«{n}»",
    "semicolon": "{n};",
    "hash": "#{n}",
    "numero": "№{n}",
    "order-before": "Order #123456 shipped, tracking {n}",
    "order-colon": "Order #123456: {n}",
    "order-plain": "Замовлення 4521 ТТН {n}",
    "date-before": "Замовлення №4521 від 15.01.2024, ТТН {n}",
    "date-adjacent-before": "Відправлено 15.01.2024 {n}",
    "date-after": "{n} від 15.01.2024",
    "iso-date-before": "2024-01-15 {n}",
    "time-before": "10:30 {n}",
    "qty-before": "Кількість: 2, ТТН {n}",
    "qty-after-sht": "{n} 2 шт",
    "qty-after-10": "{n} 10 шт",
    "qty-after-x": "{n} x2",
    "price-before": "Сума 1250.00 грн, ТТН {n}",
    "price-after": "{n} 450 грн",
    "price-after-sum": "{n} сума 1 250 грн",
    "phone-plus-before": "Тел. +380501234567 ТТН {n}",
    "phone-plus-groups-before": "Тел +380 67 123 45 67 ТТН {n}",
    "phone-plus-groups-adjacent": "+380 67 123 45 67 {n}",
    "phone-pl-adjacent": "+48 600 123 456 {n}",
    "phone-nl-after": "{n}\nТел. 067 123 45 67",
    "phone-bare-after": "{n}, тел. 0671234567",
    "signature": "Dzień dobry, paczka {n}\n--\nJan Kowalski\ntel. +48 600 123 456\njan.kowalski@example.com",
    "label-first": "{n} чохол для телефону",
    "list-item": "1. {n}",
    "list-item2": "1) {n}",
    "bullet": "- {n}",
    "multiline-start": "{n}\nдякую",
    "nbsp-prefix": "ТТН\u00a0{n}",
    "street-before": "вул. Шевченка 12 {n}",
    "flat-before": "кв. 5 {n}",
    "pl-street-before": "ul. Długa 15 {n}",
    "postcode-before": "Львів 79000 {n}",
    "en-flat-before": "Flat 7 {n}",
    "qty-plain-before": "2 {n}",
}
URL_CONTEXTS = {
    "url-query": "https://example.com/track?barcode={u}",
    "url-np": "https://novaposhta.ua/tracking/?cargo_number={u}",
    "url-path": "https://parcelsapp.com/en/tracking/{u}",
    "url-frag": "https://t.17track.net/en#nums={u}",
    "url-in-text": "Śledzenie: https://sklep.example.com/track?n={u}&lang=pl, dziękujemy",
    "url-www": "www.example.com/#/track/{u}",
}
DASH_ATTACHED = {
    "dash-prefix-word": "ТТН-{u}",
    "emdash-prefix": "ТТН—{u}",
    "endash-suffix": "{u}–доставлено",
    "dash-suffix-idx": "{u}-1",
    "order-dash": "Замовлення 4521-{u}",
    "url-slug": "https://shop.example/order-{u}",
    "url-slug2": "https://shop.example/tracking/np-{u}/details",
    "url-query-slug": "https://shop.example/t?id=parcel-{u}",
    "ups-dash": "UPS-{u}",
}
WRAP_LABELS = ("Numer przesyłki: ", "ТТН ", "Your tracking number: ", "Трек-номер: ")
SEPS = {
    "space": " ",
    "comma": ", ",
    "newline": "\n",
    "and-uk": " і ",
    "and-en": " and ",
    "semicolon": "; ",
    "slash": " / ",
    "crlf-list": "\r\n- ",
}


def luhn(body):
    """Return body with the Luhn check digit appended (payment cards)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (1 if i % 2 else 2)
        total += d - 9 if d > 9 else d
    return body + str(-total % 10)


NEGATIVE_CONTEXTS = {
    "bare": "{x}",
    "card-uk": "Оплата на картку {x}, дякую",
    "card-ru": "Карта: {x} (Приватбанк)",
    "phone-uk": "Тел. {x}",
    "pl": "Numer: {x}",
    "en": "Call me at {x} please",
}


# Other numbers printed in groups after the word that names them (a device's IMEI with its
# Luhn digit, a Ukrainian tax number, a company code, a PESEL): none is a parcel. Added
# 2026-11-26.
LABELLED_OTHERS = {
    "imei": lambda d: (lambda n: f"IMEI: {n[:2]} {n[2:8]} {n[8:14]} {n[14]}")(luhn("35" + d[:12])),
    "imei-4": lambda d: "IMEI " + " ".join(gl(luhn("86" + d[:12]), 4)),
    "ipn": lambda d: f"ІПН {d[:3]} {d[3:6]} {d[6:8]} {d[8:10]}",
    "ipn-4": lambda d: "РНОКПП " + " ".join(gl(d[:10], 4)),
    "edrpou-run": lambda d: "ЄДРПОУ " + " ".join(gl(d[:14], 2)),
    "pesel": lambda d: "PESEL: " + " ".join(gl(d[:11], 3)),
}


def labelled_others(seed=17, per=60):
    """Other numbers in groups after their labels: none is a parcel."""
    random.seed(seed)
    return [(kind, make(rd(14))) for _ in range(per) for kind, make in LABELLED_OTHERS.items()]


def negatives(seed=11, per=120):
    """Card and phone numbers as people print them: none is a parcel."""
    random.seed(seed)
    out = []
    for _ in range(per):
        card = luhn(
            (random.choice(["4", "51", "2221", "4149", "5375", "4441", "5168", "62"]) + rd(15))[
                :15
            ]
        )
        out.append(("card-4x4", " ".join(gl(card, 4))))
        out.append(("card-dashes", "-".join(gl(card, 4))))
        long_card = luhn((random.choice(["4", "62", "67"]) + rd(18))[:18])
        out.append(("card-19", " ".join(gl(long_card, 4))))
        amex = luhn(random.choice(["34", "37"]) + rd(12))
        out.append(("card-amex", f"{amex[:4]} {amex[4:10]} {amex[10:]}"))
        phone = (
            "0"
            + random.choice(
                ["50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"]
            )
            + rd(7)
        )
        out.append(("phone-3322", f"{phone[:3]} {phone[3:6]} {phone[6:8]} {phone[8:]}"))
        out.append(("phone-dashes", f"{phone[:3]}-{phone[3:6]}-{phone[6:8]}-{phone[8:]}"))
        out.append(("phone-paren", f"({phone[:3]}) {phone[3:6]}-{phone[6:8]}-{phone[8:]}"))
        out.append(
            ("phone-labelled", f"{random.choice(['тел.', 'Телефон:', 'tel.', 'Phone'])} {phone}")
        )
        out.append(("phone-38", f"38{phone}"))
        out.append(("phone-38-groups", f"38 {phone[:3]} {phone[3:6]} {phone[6:8]} {phone[8:]}"))
        out.append(("lines", f"Замовлення {rd(4)}\nКількість {rd(1)}\nСума {rd(3)} {rd(3)} грн"))
        out.append(("digit-lines", f"{rd(3)} {rd(3)}\n{rd(3)} {rd(3)}"))
        pl = random.choice("5678") + rd(8)
        out.append(("phone-pl", f"{pl[:3]} {pl[3:6]} {pl[6:]}"))
    return out


def generate_cases() -> list[dict[str, object]]:
    """Return the generated inputs with their expected answers."""
    fixed, rand, extra = all_numbers(per=6)
    cases = []

    def add(cat, style, ctx, text, expected, num=None):
        cases.append(
            {
                "cat": cat,
                "style": style,
                "ctx": ctx,
                "text": text,
                "expected": expected,
                "num": num,
            }
        )

    for n, rule in fixed + rand + extra:
        full = (n, rule) not in rand
        st = styles(n, rule)
        ctxs = CONTEXTS if full else {k: CONTEXTS[k] for k in list(CONTEXTS)[::3]}
        for sname, groups in st.items():
            for sep_name, sep in (("sp", " "), ("dash", "-")):
                if sep_name == "dash" and len(groups) < 2:
                    continue
                if sep_name == "dash" and not (
                    sname.startswith("g4") or sname in carrier_styles(n, rule) or sname == "g3R"
                ):
                    continue
                printed = sep.join(groups)
                for cname, tmpl in ctxs.items():
                    add(
                        "single",
                        f"{rule}:{sname}:{sep_name}",
                        cname,
                        tmpl.format(n=printed),
                        [n],
                        n,
                    )
        for cname, tmpl in URL_CONTEXTS.items():
            add("url", f"{rule}:plain", cname, tmpl.format(u=n), [n], n)
            if "g4L" in st:
                add("url", f"{rule}:dash4", cname, tmpl.format(u="-".join(st["g4L"])), [n], n)
        for cname, tmpl in DASH_ATTACHED.items():
            add("dash-attached", f"{rule}:plain", cname, tmpl.format(u=n), [n], n)
        for sname, groups in st.items():
            if sname in ("plain", "g4L") or sname in carrier_styles(n, rule):
                wrapped = (
                    " ".join(groups[: len(groups) // 2])
                    + "\n"
                    + " ".join(groups[len(groups) // 2 :])
                )
                add("wrap", f"{rule}:{sname}", "hard-wrap", wrapped, [n], n)
                # Added 2026-11-26: the same after a word announcing the parcel's number.
                label = WRAP_LABELS[len(cases) % len(WRAP_LABELS)]
                add("wrap", f"{rule}:{sname}", "hard-wrap-labelled", label + wrapped, [n], n)
    # typos: one character changed so that the whole number fails; no part of it may be taken
    random.seed(13)
    for n, rule in fixed + rand + extra:
        digits = [i for i, ch in enumerate(n) if ch.isdigit()]
        typos = [
            n[:at] + d + n[at + 1 :]
            for at in random.sample(digits, len(digits))
            for d in "0123456789"
        ]
        typo = next((t for t in typos if not identify(t)), None)
        if typo is None:
            continue  # a format without a check digit: every one-digit change is valid
        for sname, groups in styles(typo, rule).items():
            for cname in ("bare", "uk-ttn", "street-before"):
                add(
                    "typo",
                    f"{rule}:{sname}",
                    cname,
                    CONTEXTS[cname].format(n=" ".join(groups)),
                    [],
                )
    for kind, printed in negatives():
        for cname, tmpl in NEGATIVE_CONTEXTS.items():
            add("no number", kind, cname, tmpl.format(x=printed), [])
    for kind, printed in labelled_others():
        add("no number", kind, "labelled", printed, [])
    # pairs
    random.seed(3)
    pool = fixed + rand
    for _ in range(900):
        (a, ra), (b, rb) = random.sample(pool, 2)
        sa, sb = styles(a, ra), styles(b, rb)
        ka = random.choice(list(sa))
        kb = random.choice(list(sb))
        sep_name = random.choice(list(SEPS))
        text = " ".join(sa[ka]) + SEPS[sep_name] + " ".join(sb[kb])
        if random.random() < 0.5:
            text = "ТТН " + text + " дякую"
        add("pair", f"{ra}:{ka}+{rb}:{kb}", sep_name, text, [a, b], a + "|" + b)
    return cases


def main() -> None:
    """Generate the inputs, run extract_numbers on each and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    print_machine()
    print_command()
    cases = generate_cases()
    totals: Counter[str] = Counter()
    by_category: Counter[tuple[str, str]] = Counter()
    for case in cases:
        found = extract_numbers(str(case["text"]))
        expected = case["expected"]
        assert isinstance(expected, list)
        category = str(case["cat"])
        correct = found == expected
        wrong = any(number not in expected for number in found)
        for key, value in (("inputs", 1), ("correct", correct), ("wrong number", wrong)):
            totals[key] += int(value)
            by_category[(category, key)] += int(value)
    print(f"\n## Detection accuracy: {totals['inputs']:,} generated inputs\n")
    rows = [
        (
            name,
            by_category[(name, "inputs")],
            by_category[(name, "correct")],
            by_category[(name, "wrong number")],
        )
        for name in ("single", "url", "dash-attached", "wrap", "pair", "typo", "no number")
    ]
    rows.append(("all", totals["inputs"], totals["correct"], totals["wrong number"]))
    print_table(["inputs", "count", "correct", "wrong number"], rows)


if __name__ == "__main__":
    main()
