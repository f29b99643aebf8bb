"""What the devices send: SAM frames and the card text inside them, APDU replies, ESC/POS status."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import strategies as st

from drivers.errors import DriverError
from drivers.iccard import apdu as ap
from drivers.iccard.config import EXAMPLE_PROFILE, AccountField, ApduProfile
from drivers.iccard.vicc import ElectricityCard
from drivers.idcard import frames as fr
from drivers.idcard.card import IdCard, decode_text
from drivers.idcard.sim import foreign_text, gat_text, resident_text
from drivers.printer import escpos
from drivers.printer.interpreter import Interpreter
from drivers.printer.printer import Printer
from edge.identity import check_digit, id_number_valid
from tests.fuzz.core import DIGITS, Case, Target, mutated, raw, refused_valid, valid, word

NUMBER = "11010519491231002X"  # GB 11643-1999's own example
VALID_TEXTS = [
    resident_text("张三", NUMBER, birth="19491231"),
    foreign_text("SMITH JOHN", "USA110080010101", name="史密斯"),
    gat_text("陈大文", "810000198505200022"),
]
SAM_TOKENS = [fr.PREAMBLE, fr.PREAMBLE[:3], b"\x00\x00", b"\xff\xff", b"\x0f\xff", bytes(fr.CMD_READ), b"\x90", b"\x9f"]
no_surrogates = st.characters(exclude_categories=("Cs",))


def check_card(card: IdCard) -> None:
    """What a decoded card promises, whatever the bytes were."""
    assert card.card_type in ("resident", "foreign", "gat")
    assert card.name and card.name.isprintable()
    assert card.number.isascii() and card.number.isalnum()
    if card.card_type != "foreign":
        assert id_number_valid(card.number)
    assert card.sex in ("unknown", "male", "female", "unstated")


def decode_answer(stream: bytes) -> list[IdCard]:
    """A SAM module's answer bytes → frames → read payload → cards, as the reader does it."""
    cards = []
    for frame in fr.FrameParser().feed(stream):
        payload = fr.split_read_payload(frame.data)
        cards.append(decode_text(payload.text, payload.photo))
    return cards


def flip(text: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(text)
    for pos, mask in flips:
        out[pos] ^= mask
    return bytes(out)


def read_answer(text: bytes) -> bytes:
    return fr.encode_response(fr.SW3_OK, fr.encode_read_payload(text, b"WLT" + bytes(1021)))


@st.composite
def resident_cards(draw: st.DrawFn) -> tuple[bytes, tuple[str, str, str, date]]:
    """A resident card's read answer, and the name, number, sex code and birth it carries."""
    name = draw(st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=15))
    birth = draw(st.dates(date(1900, 1, 1), date(2099, 12, 31)))
    first17 = draw(word("12345678", DIGITS, 6, 6)) + birth.strftime("%Y%m%d") + draw(word(DIGITS, DIGITS, 3, 3))
    number = first17 + check_digit(first17)
    sex = draw(st.sampled_from("0129"))
    valid_from = birth + timedelta(days=draw(st.integers(0, 20000)))
    text = resident_text(
        name, number, sex=sex, birth=birth.strftime("%Y%m%d"), valid_from=valid_from.strftime("%Y%m%d")
    )
    return read_answer(text), (name, number, sex, birth)


def sam_inputs() -> st.SearchStrategy[Case]:
    flips = st.lists(st.tuples(st.integers(0, fr.TEXT_LEN - 1), st.integers(1, 255)), min_size=1, max_size=6)
    flipped = st.builds(flip, st.sampled_from(VALID_TEXTS), flips).map(read_answer)
    frames = st.lists(st.binary(max_size=60), max_size=4).map(
        lambda bodies: b"".join(fr.encode_frame(b) for b in bodies)
    )
    return st.one_of(
        resident_cards().map(lambda t: valid(t[0], t[1])),
        flipped.map(raw),
        mutated(st.sampled_from(VALID_TEXTS).map(read_answer) | frames, SAM_TOKENS).map(raw),
        st.binary(max_size=2000).map(raw),
    )


def run_sam(case: Case) -> None:
    if case.kind == "valid":
        try:
            (card,) = decode_answer(case.data)
        except DriverError as exc:
            raise refused_valid("the ID-card reader", exc) from exc
        check_card(card)
        assert (card.name, card.number, card.sex_code, card.birth) == case.expected
        return
    for card in decode_answer(case.data):
        check_card(card)


# -- APDU replies -----------------------------------------------------------------------------------------

accounts = st.builds(
    AccountField,
    read=st.integers(-1, 0),
    offset=st.integers(0, 40),
    length=st.integers(1, 32),
    encoding=st.sampled_from(["bcd", "ascii"]),
    strip_leading_zeros=st.booleans(),
)


def apdu_inputs() -> st.SearchStrategy[Case]:
    card_answers = st.tuples(st.lists(st.binary(max_size=64), min_size=1, max_size=12), accounts)
    sw = st.integers(0, 0xFFFF)
    return st.one_of(
        st.tuples(st.binary(max_size=300), sw).map(lambda t: valid(("rapdu", t[0] + t[1].to_bytes(2, "big")), t)),
        st.text("0123456789", min_size=1, max_size=20).map(lambda acct: valid(("card", acct), acct)),
        st.binary(max_size=300).map(lambda b: raw(("rapdu", b))),
        card_answers.map(lambda t: raw(("answers", t))),
        st.tuples(st.text("0123456789", min_size=1, max_size=20), st.binary(min_size=32, max_size=32)).map(
            lambda t: raw(("file", t))
        ),
    )


def run_apdu(case: Case) -> None:
    what, data = case.data
    if what == "rapdu":
        try:
            body, sw = ap.split_response(data)
        except DriverError:
            assert case.kind == "raw" and len(data) < 2
            raise
        assert body + sw.to_bytes(2, "big") == data
        if case.kind == "valid":
            assert (body, sw) == case.expected
    elif what == "card":  # the virtual card holding an account: the profile reads it back
        try:
            assert ap.run_profile(EXAMPLE_PROFILE, ElectricityCard(data).answer) == case.expected
        except DriverError as exc:
            raise refused_valid("the IC-card profile", exc) from exc
    elif what == "file":
        account, content = data
        card = ElectricityCard(account)
        card.files["0015"] = content
        result = ap.run_profile(EXAMPLE_PROFILE, card.answer)
        assert result and result.isascii()
    else:
        answers, account = data
        profile = ApduProfile(name="fuzz", steps=EXAMPLE_PROFILE.steps, account=account)
        sent: list[bytes] = []

        def send(capdu: bytes) -> bytes:
            sent.append(capdu)
            assert len(sent) <= len(profile.steps) * ap.MAX_EXCHANGES, "the card kept the reader talking"
            return answers[(len(sent) - 1) % len(answers)]

        result = ap.run_profile(profile, send)
        assert result and result.isascii()


def apdu_reread(data: bytes) -> Case:
    """Bytes as a reply to parse, or as a card's successive answers (cut where the bytes say)."""
    if not data or data[0] % 2 == 0:
        return raw(("rapdu", data))
    answers, rest = [], data[1:]
    while rest and len(answers) < 12:
        n = rest[0] % 40
        answers.append(rest[1 : 1 + n])
        rest = rest[1 + n :]
    return raw(("answers", (answers or [b""], EXAMPLE_PROFILE.account)))


def apdu_raw(case: Case) -> bytes:
    what, data = case.data
    if what == "rapdu":
        return bytes(data)
    if what == "answers":
        return b"".join(data[0])
    return str(data).encode()


# -- ESC/POS real-time status ---------------------------------------------------------------------------


class Answering:
    """A printer on the far end of a transport: the next bytes given for each status request, or what a
    simulated printer (the interpreter) answers."""

    readable = True
    url = "test://fuzz"

    def __init__(self, answers: list[bytes] | None = None, sim: Interpreter | None = None) -> None:
        self.answers = list(answers or [])
        self.sim = sim
        self.pending = b""

    def write(self, data: bytes) -> None:
        if self.sim is not None:
            self.pending += self.sim.feed(data)
        elif data.startswith(escpos.STATUS) and self.answers:
            self.pending += self.answers.pop(0)

    def read(self, n: int, timeout: float) -> bytes:
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def drain(self) -> None:
        self.pending = b""

    def close(self) -> None:
        pass


def escpos_inputs() -> st.SearchStrategy[Case]:
    state = st.tuples(st.booleans(), st.booleans(), st.booleans())
    return st.one_of(
        state.map(lambda s: valid(("printer", s), s)),
        st.dictionaries(st.integers(1, 4), st.integers(0, 255)).map(lambda d: raw(("answers", d))),
        st.lists(st.binary(max_size=3), max_size=5).map(lambda a: raw(("stream", a))),
    )


def run_escpos(case: Case) -> None:
    what, data = case.data
    if what == "printer":  # paper out, paper near end, cover open, as a simulated printer answers them
        paper_out, near_end, cover_open = data
        sim = Interpreter()
        sim.paper_out, sim.paper_near_end, sim.cover_open = data
        try:
            status = Printer(Answering(sim=sim), status_timeout=0.001).status()
        except DriverError as exc:
            raise refused_valid("the printer's status", exc) from exc
        assert status is not None
        assert (status.paper_out, status.paper_near_end, status.cover_open) == (
            paper_out,
            near_end or paper_out,
            cover_open,
        )
        assert status.ready == (not paper_out and not cover_open)
    elif what == "answers":
        try:
            status = escpos.parse_status(data)
        except DriverError:
            assert any(v & escpos.STATUS_MASK != escpos.STATUS_FIXED for v in data.values())
            raise
        assert status.ready == (status.reason == "")
    else:
        Printer(Answering(data), status_timeout=0.001).status()


def escpos_reread(data: bytes) -> Case:
    """Bytes as status answers to ``DLE EOT 1..4``, or as what a printer sends back, a few bytes a request."""
    if len(data) % 2 == 0:
        return raw(("answers", {1 + i % 4: b for i, b in enumerate(data[:8])}))
    return raw(("stream", [data[i : i + 2] for i in range(0, min(len(data), 10), 2)]))


def escpos_raw(case: Case) -> bytes:
    what, data = case.data
    if what == "answers":
        return bytes(data.values())
    if what == "stream":
        return b"".join(data)
    return bytes(data)


TARGETS = [
    Target(
        "sam",
        "ID-card reader: SAM answer bytes → frames → read payload → card text → IdCard",
        sam_inputs(),
        run_sam,
        (DriverError,),
        lambda case: bytes(case.data),
        tokens=SAM_TOKENS,
    ),
    Target(
        "apdu",
        "IC-card reader: R-APDUs → status words → the profile's account field",
        apdu_inputs(),
        run_apdu,
        (DriverError,),
        apdu_raw,
        tokens=[b"\x90\x00", b"\x61\x10", b"\x6c\x08", b"\x6a\x82", b"\x00" * 16, b"\xff"],
        reread=apdu_reread,
    ),
    Target(
        "escpos",
        "ticket printer: DLE EOT answers → PrinterStatus",
        escpos_inputs(),
        run_escpos,
        (DriverError,),
        escpos_raw,
        tokens=[bytes([escpos.STATUS_FIXED]), b"\x16", b"\x1e", b"\x72", b"\x7e", b"\x10\x04"],
        reread=escpos_reread,
    ),
]
