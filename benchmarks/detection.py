"""Detection speed: bot.carriers.detect.extract_numbers + identify on realistic mixed text.

A fixed-seed corpus of shop e-mails and SMS in Ukrainian, Russian, Polish and English, each
with 0–5 tracking numbers (Ukrposhta, S10, Nova Poshta, InPost, UPS, FedEx, DHL), written
plain, in lower case, in printed groups or with dashes, inside tracking URLs, next to order
numbers, phone numbers, prices and dates; a share of the numbers has a typo (one digit
changed). Every repeat runs ``extract_numbers(text)`` and ``identify(number)`` for each number
found, over the whole corpus; the table gives the best and the median repeat.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from random import Random
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    china_post,
    inpost,
    nova_poshta,
    print_command,
    print_machine,
    print_table,
    s10,
    ukrposhta_13,
)
from bot.carriers.detect import extract_numbers, identify, normalize

_FEDEX_WEIGHTS = (3, 1, 7) * 4


def ups(rng: Random) -> str:
    """Return a UPS 1Z number with a valid check digit."""
    alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    serial = "".join(rng.choice(alphabet) for _ in range(6)) + "".join(
        rng.choice("0123456789") for _ in range(9)
    )
    values = [int(c) if c.isdigit() else (ord(c) - 3) % 10 for c in serial]
    total = sum(values[0::2]) + 2 * sum(values[1::2])
    return f"1Z{serial}{(10 - total % 10) % 10}"


def dhl_express(rng: Random) -> str:
    """Return a 10-digit DHL Express waybill (check digit: serial mod 7)."""
    serial = str(rng.randrange(10**8, 10**9))
    return serial + str(int(serial) % 7)


def fedex_12(rng: Random) -> str:
    """Return a 12-digit FedEx Express number with a valid check digit."""
    serial = "".join(rng.choice("0123456789") for _ in range(11))
    total = sum(int(d) * w for d, w in zip(serial, _FEDEX_WEIGHTS, strict=False))
    return serial + str(total % 11 % 10)


GENERATORS = (
    (ukrposhta_13, 25),
    (lambda rng: s10(rng, rng.choice(("RB", "CP", "EE", "RR")), "UA"), 10),
    (nova_poshta, 30),
    (inpost, 10),
    (china_post, 10),
    (ups, 5),
    (fedex_12, 5),
    (dhl_express, 5),
)

SINGLE = (
    "Ваше відправлення {n} прибуло до відділення №{k} Укрпошти. Термін зберігання до {date}.",
    "Нова пошта: посилка {n} вже у відділенні №{k}, м. Київ. До сплати {price} грн. "
    "Код отримання: {code}",
    "Замовлення №{order} відправлено. ТТН: {n}. Дякуємо! Питання: +380 44 {phone}",
    "Заказ {order} передан в службу доставки. Трек-номер: {n}. Отследить: "
    "https://track.example.com/?number={n}",
    "Посылка {n} прибыла в сортировочный центр {date}. Ожидайте SMS.",
    "InPost: Twoja paczka {n} czeka w Paczkomacie WAW{k}M. Kod odbioru: {code}. "
    "Masz czas do {date}.",
    "Dzień dobry, przesyłka nr {n} została nadana. Numer zamówienia: {order}.",
    "Your AliExpress order {order} shipped: {n}. Track: "
    "https://global.cainiao.com/detail.htm?mailNoList={n}",
    "Hi Olena,\n\nGood news! Your order #{order} has shipped.\n\nCarrier: DHL\n"
    "Tracking number: {n}\n\nItems:\n 1 x USB-C cable  $4.99\n 2 x Phone case  $12.00\n\n"
    "Questions? Call +1 (800) 555-0199 or reply to this e-mail.\n",
)
MULTI = (
    "Ваші посилки: {list}. Дякуємо за покупку!",
    "Your parcels ship separately: {list}. Total ${price}.",
    "Przesyłki: {list}",
    "Посылки по заказу {order}:\n{lines}",
    "Order {order} was split into several parcels.\n{lines}\nPhone: +380 67 {phone}",
)
NONE = (
    "Hi! Your order {order} is being prepared. We will send the tracking number soon.",
    "Дякуємо за замовлення №{order} на суму {price} грн. Очікуйте SMS з номером ТТН.",
    "Ваш код підтвердження: {code}. Нікому не повідомляйте його. Тел. +380 50 {phone}",
    "Zamówienie {order} przyjęte do realizacji {date}.",
    "Напоминаем: доставка {date}, оплата {price} руб., телефон курьера 8 (900) {phone}",
)
LINE_LABELS = ("куртка", "взуття", "books", "phone case", "kurtka", "подарок")


def planted(rng: Random) -> str:
    """Pick a generator by weight and return a valid number."""
    total = sum(weight for _, weight in GENERATORS)
    point = rng.uniform(0, total)
    for generator, weight in GENERATORS:
        point -= weight
        if point <= 0:
            return generator(rng)
    return GENERATORS[0][0](rng)


def typo(rng: Random, number: str) -> str:
    """Change one digit of the number."""
    positions = [i for i, ch in enumerate(number) if ch.isdigit()]
    index = rng.choice(positions)
    digit = rng.choice([d for d in "0123456789" if d != number[index]])
    return number[:index] + digit + number[index + 1 :]


def printed(rng: Random, number: str) -> str:
    """Write a number the way people and shops print it."""
    style = rng.random()
    if style < 0.6:
        return number
    if style < 0.7:
        return number.lower()
    size = 4 if number.isdigit() else 3
    groups = [number[i : i + size] for i in range(0, len(number), size)]
    return (" " if style < 0.9 else "-").join(groups)


def order_number(rng: Random) -> str:
    """Return a shop order number: Amazon-style 3-7-7 digits, or a short one."""
    if rng.random() < 0.5:
        parts = (
            rng.randint(100, 999),
            rng.randint(10**6, 10**7 - 1),
            rng.randint(10**6, 10**7 - 1),
        )
        return "-".join(map(str, parts))
    return str(rng.randint(10_000, 9_999_999))


def fill(rng: Random, template: str, numbers: list[str]) -> str:
    """Fill a template's placeholders."""
    shown = [printed(rng, n) for n in numbers]
    lines = "\n".join(f"{i + 1}) {n} — {rng.choice(LINE_LABELS)}" for i, n in enumerate(shown))
    return template.format(
        n=shown[0] if shown else "",
        list=", ".join(shown),
        lines=lines,
        k=rng.randint(1, 400),
        date=f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2026",
        price=f"{rng.randint(50, 5000)}.{rng.randint(0, 99):02d}",
        code=rng.randint(100000, 999999),
        order=order_number(rng),
        phone=f"{rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
    )


def corpus(count: int, seed: int, typo_share: float) -> tuple[list[str], set[str], int]:
    """Return the texts, the valid numbers planted in them and how many typos were planted."""
    rng = Random(seed)
    texts: list[str] = []
    valid: set[str] = set()
    typos = 0
    for _ in range(count):
        wanted = rng.choices((0, 1, 2, 3, 4, 5), weights=(15, 50, 15, 10, 5, 5))[0]
        numbers = []
        for _ in range(wanted):
            number = planted(rng)
            if rng.random() < typo_share:
                number = typo(rng, number)
                typos += 1
            else:
                valid.add(normalize(number))
            numbers.append(number)
        if wanted == 0:
            template = rng.choice(NONE)
        elif wanted == 1:
            template = rng.choice(SINGLE)
        else:
            template = rng.choice(MULTI)
        texts.append(fill(rng, template, numbers))
    return texts, valid, typos


def one_pass(texts: list[str]) -> tuple[float, int, set[str]]:
    """Extract and identify every number of every text; return seconds, count, numbers."""
    found: set[str] = set()
    count = 0
    started = time.perf_counter()
    for text in texts:
        for number in extract_numbers(text):
            identify(number)
            count += 1
            found.add(number)
    return time.perf_counter() - started, count, found


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, build the corpus, time the passes and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=20_000, help="texts in the corpus")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the corpus")
    parser.add_argument("--typos", type=float, default=0.1, help="share of numbers with a typo")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    print_machine()
    print_command()
    texts, valid, typos = corpus(args.texts, args.seed, args.typos)
    characters = sum(len(t) for t in texts)
    one_pass(texts[:200])  # warm the regex caches
    passes = [one_pass(texts) for _ in range(args.repeats)]
    seconds = [p[0] for p in passes]
    _, count, found = passes[0]
    best, middle = min(seconds), median(seconds)
    print(
        f"\n## Detection: {len(texts):,} texts, {characters / 1e6:.2f} M characters, "
        f"{len(valid):,} valid numbers and {typos:,} typos planted\n"
    )
    print_table(
        ["pass", "seconds", "texts/s", "numbers/s", "MB/s (chars)", "µs/text"],
        [
            [label, s, len(texts) / s, count / s, characters / s / 1e6, s / len(texts) * 1e6]
            for label, s in (("best", best), ("median", middle))
        ],
    )
    print(
        f"\nnumbers found per pass: {count:,}; valid planted found: "
        f"{len(valid & found):,}/{len(valid):,}; found but not planted valid "
        f"(typos that still pass a rule without a check digit, or false positives): "
        f"{len(found - valid):,}"
    )
    worst_cases()


# Messages of Telegram's maximum length (4,096 characters) that make the scanner judge the
# most joins: every window of short groups passes some rule.
WORST_CASES = {
    "single zeros": " ".join(["0"] * 2100)[:4096],
    "pairs of zeros": " ".join(["00"] * 1400)[:4096],
    "random 3-digit groups": " ".join(f"{n % 1000:03d}" for n in range(0, 7_000_000, 6871))[:4096],
    "one waybill in groups, repeated": " ".join(["2040 0048 7990 00"] * 250)[:4096],
}


def worst_cases() -> None:
    """Time extract_numbers on the slowest messages we know (best of three)."""
    print("\n## Slowest messages (4,096 characters each), best of 3\n")
    rows = []
    for name, text in WORST_CASES.items():
        times = []
        for _ in range(3):
            started = time.perf_counter()
            extract_numbers(text)
            times.append(time.perf_counter() - started)
        rows.append([name, min(times) * 1000])
    print_table(["message", "ms"], rows)


if __name__ == "__main__":
    main()
