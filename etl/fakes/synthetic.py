"""Synthetic Traffy tickets in the feed-1 shape, deterministic by seed.

``seed_months()`` builds Suan Luang's six months of fiscal 2566 so that the
pipeline's KPI reproduces the office's hand-made table exactly (April 2566:
398 tickets, 10 in progress, 2.51 %); other districts' tickets are mixed in,
as the real feed (which has no district filter) mixes them.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

IN_PROGRESS_STATES = ("กำลังดำเนินการ", "กำลังดำเนินการ", "กำลังดำเนินการ", "ศึกษาปัญหา", "ของบประมาณ")
OTHER_STATES = (
    ("เสร็จสิ้น", "finish", 0.86),
    ("ส่งต่อ", "forward", 0.05),
    ("ไม่เกี่ยวข้อง", "irrelevant", 0.05),
    ("รอรับเรื่อง", "start", 0.02),
    ("ติดตามเรื่อง", "follow", 0.02),
)
TYPES = (
    "ถนน",
    "ทางเท้า",
    "น้ำท่วม",
    "ความสะอาด",
    "แสงสว่าง",
    "ท่อระบายน้ำ",
    "จราจร",
    "กีดขวาง",
    "เสียงรบกวน",
    "ต้นไม้",
    "สะพาน",
    "คนจรจัด",
    "ร้องเรียน",
)
SECTIONS = ("ฝ่ายโยธา", "ฝ่ายรักษาความสะอาดและสวนสาธารณะ", "ฝ่ายเทศกิจ", "ฝ่ายสิ่งแวดล้อมและสุขาภิบาล")
DISTRICTS = {
    "สวนหลวง": (("สวนหลวง", "อ่อนนุช", "พัฒนาการ"), 13.730, 100.640, "10250"),
    "วัฒนา": (("คลองเตยเหนือ", "คลองตันเหนือ", "พระโขนงเหนือ"), 13.740, 100.580, "10110"),
    "ประเวศ": (("ประเวศ", "หนองบอน", "ดอกไม้"), 13.700, 100.680, "10250"),
    "บางนา": (("บางนาเหนือ", "บางนาใต้"), 13.670, 100.620, "10260"),
    "สะพานสูง": (("สะพานสูง", "ราษฎร์พัฒนา", "ทับช้าง"), 13.770, 100.690, "10240"),
}
TEXTS = (
    "ฝาท่อระบายน้ำชำรุด เสี่ยงอันตรายต่อผู้สัญจร",
    "ไฟส่องสว่างในซอยดับหลายดวง มืดมากตอนกลางคืน",
    "ขยะกองอยู่ริมถนนไม่มีผู้มาเก็บ ส่งกลิ่นเหม็น",
    "ทางเท้าทรุด กระเบื้องแตก เดินลำบาก",
    "น้ำท่วมขังหน้าปากซอยหลังฝนตก ระบายช้า",
    "มีรถจอดกีดขวางทางเข้าออกตลอดวัน",
    "ต้นไม้ใหญ่กิ่งหักพาดสายไฟ",
)

ROUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ถนน": ("ฝ่ายโยธา", ("ถนนเป็นหลุมเป็นบ่อ รถจักรยานยนต์ล้มบ่อย", "ผิวถนนในซอยทรุดเป็นแอ่ง ฝนตกน้ำขัง")),
    "ทางเท้า": ("ฝ่ายโยธา", ("ทางเท้าทรุด กระเบื้องแตก เดินลำบาก", "ทางเท้าชำรุดเป็นหลุม ผู้สูงอายุเดินสะดุด")),
    "น้ำท่วม": ("ฝ่ายโยธา", ("น้ำท่วมขังหน้าปากซอยหลังฝนตก ระบายช้า", "ฝนตกทีไรน้ำท่วมถนนในซอย รถเล็กผ่านไม่ได้")),
    "ท่อระบายน้ำ": ("ฝ่ายโยธา", ("ฝาท่อระบายน้ำชำรุด เสี่ยงอันตรายต่อผู้สัญจร", "ท่อระบายน้ำอุดตัน น้ำเน่าส่งกลิ่นเหม็น")),
    "สะพาน": ("ฝ่ายโยธา", ("ราวสะพานข้ามคลองชำรุด เสี่ยงพลัดตก", "แผ่นพื้นสะพานคนเดินหลุด เดินข้ามไม่ได้")),
    "แสงสว่าง": (
        "ฝ่ายโยธา",
        ("ไฟส่องสว่างในซอยดับหลายดวง มืดมากตอนกลางคืน", "เสาไฟริมทางเดินไฟไม่ติดมาหลายวัน"),
    ),
    "ความสะอาด": (
        "ฝ่ายรักษาความสะอาดและสวนสาธารณะ",
        ("ขยะกองอยู่ริมถนนไม่มีผู้มาเก็บ ส่งกลิ่นเหม็น", "มีผู้ลักลอบทิ้งขยะในที่ว่างข้างซอย"),
    ),
    "ต้นไม้": (
        "ฝ่ายรักษาความสะอาดและสวนสาธารณะ",
        ("ต้นไม้ใหญ่กิ่งหักพาดสายไฟ", "กิ่งไม้ยื่นบังป้ายจราจร ขอให้ตัดแต่ง"),
    ),
    "จราจร": (
        "ฝ่ายเทศกิจ",
        ("รถติดหน้าโรงเรียนช่วงเช้า ขอเจ้าหน้าที่อำนวยการจราจร", "ป้ายจราจรล้มขวางช่องทางเดินรถ"),
    ),
    "กีดขวาง": ("ฝ่ายเทศกิจ", ("มีรถจอดกีดขวางทางเข้าออกตลอดวัน", "วางของขายบนทางเท้ากีดขวางทางเดิน")),
    "ร้องเรียน": ("ฝ่ายเทศกิจ", ("ร้านค้าตั้งโต๊ะรุกล้ำที่สาธารณะ ขอให้ตรวจสอบ", "แจ้งแล้วยังไม่มีเจ้าหน้าที่มาตรวจสอบ")),
    "เสียงรบกวน": (
        "ฝ่ายสิ่งแวดล้อมและสุขาภิบาล",
        ("ร้านอาหารเปิดเพลงเสียงดังหลังเที่ยงคืน", "ไซต์ก่อสร้างทำงานเสียงดังตอนกลางคืน"),
    ),
    "คนจรจัด": (
        "ฝ่ายพัฒนาชุมชนและสวัสดิการสังคม",
        ("มีคนไร้บ้านนอนพักใต้สะพานหลายคน", "มีผู้เร่ร่อนนอนหน้าร้านค้าทุกคืน ขอให้ช่วยเหลือ"),
    ),
}
"""Per complaint type: the section (ฝ่าย) a district office routes it to, and what citizens
write about it. The demo's tickets follow it, so a type's descriptions match the type."""


@dataclass(frozen=True)
class SeedMonth:
    """One row of the office's table: tickets of a month and how many are in progress."""

    first: date
    last: date
    total: int
    in_progress: int


SEED_TABLE = (
    SeedMonth(date(2023, 4, 1), date(2023, 4, 30), 398, 10),
    SeedMonth(date(2023, 5, 1), date(2023, 5, 31), 535, 23),
    SeedMonth(date(2023, 6, 1), date(2023, 6, 30), 570, 37),
    SeedMonth(date(2023, 7, 1), date(2023, 7, 31), 753, 37),
    SeedMonth(date(2023, 8, 1), date(2023, 8, 31), 546, 50),
    SeedMonth(date(2023, 9, 1), date(2023, 9, 15), 242, 35),
)
"""The seed document's months (April to 15 September 2566)."""

SEED_REPORT_TIME = datetime(2023, 9, 15, 15, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
"""When the office made its table: the afternoon of 15 September 2566, Bangkok time.
The demo's clock, so ticket ages and ageing buckets are what the office saw."""


class TicketFactory:
    """Makes feed-1 features; one ``random.Random`` so a seed gives the same tickets."""

    def __init__(self, seed: int = 2566) -> None:
        self.random = random.Random(seed)
        self.message_id = 1_000_000
        self.ids: set[str] = set()

    def ticket_id(self, year: int) -> str:
        while True:
            suffix = "".join(self.random.choices(string.ascii_uppercase + string.digits, k=6))
            ticket_id = f"{year}-{suffix}"
            if ticket_id not in self.ids:
                self.ids.add(ticket_id)
                return ticket_id

    def feature(
        self,
        created: datetime,
        district: str,
        state: str,
        state_type: str,
    ) -> dict[str, Any]:
        """One feature in the real feed-1 shape, with consistent timestamps."""
        r = self.random
        subdistricts, lat, lon, postcode = DISTRICTS[district]
        subdistrict = r.choice(subdistricts)
        types = r.sample(TYPES, k=r.choice((1, 1, 1, 2)))
        section_name, texts = ROUTES[types[0]]
        section = f"{section_name} เขต{district}"
        orgs = ["กรุงเทพมหานคร", f"เขต{district}", section]
        self.message_id += r.randint(1, 40)
        started = created + timedelta(minutes=r.randint(5, 600))
        done = started + timedelta(hours=r.randint(1, 24 * 20))
        finished = state_type in ("finish", "irrelevant")
        in_progress = state_type in ("inprogress", "finish", "irrelevant", "follow")
        last = done if finished else (started if in_progress else created)
        return {
            "type": "Feature",
            "geometry": {
                "type": "Point",
                "coordinates": [
                    round(lon + r.uniform(-0.02, 0.02), 5),
                    round(lat + r.uniform(-0.02, 0.02), 5),
                ],
            },
            "properties": {
                "problem_type_fondue": types,
                "org": orgs,
                "org_action": orgs[1:] if in_progress else [],
                "description": r.choice(texts),
                "message_id": self.message_id,
                "ticket_id": self.ticket_id(created.year),
                "photo_url": f"https://storage.googleapis.com/traffy_public_bucket/attachment/{created:%Y-%m}/{r.getrandbits(64):016x}.jpg",
                "after_photo": (
                    f"https://storage.googleapis.com/traffy_public_bucket/attachment/{done:%Y-%m}/{r.getrandbits(64):016x}.jpg"
                    if finished
                    else None
                ),
                "address": (
                    f"{r.randint(1, 999)} ซอย อ่อนนุช แขวง{subdistrict} เขต{district} "
                    f"กรุงเทพมหานคร {postcode} ประเทศไทย"
                ),
                "subdistrict": subdistrict,
                "district": district,
                "province": "กรุงเทพมหานคร",
                "problem_type_abdul": None,
                "star": r.choice((None, None, None, 3, 4, 5, 5)) if finished else None,
                "count_reopen": r.choice((0, 0, 0, 0, 0, 0, 1)),
                "note": "ดำเนินการแก้ไขเรียบร้อยแล้ว" if finished else None,
                "description_reporter": None,
                "state": state,
                "state_type_latest": state_type,
                "duration_minutes_inprogress": None,
                "duration_minutes_finished": None,
                "duration_minutes_total": None,
                "view_count": r.randint(0, 30),
                "timestamp": f"{created:%Y-%m-%d %H:%M:%S}",
                "last_activity": f"{last:%Y-%m-%d %H:%M:%S}",
                "timestamp_inprogress": f"{started:%Y-%m-%d %H:%M:%S}" if in_progress else None,
                "timestamp_finished": f"{done:%Y-%m-%d %H:%M:%S}" if finished else None,
                "type": ",".join(types),
                "see_info": True,
                "total_point": 0,
                "like": 0,
                "dislike": 0,
            },
        }

    def moment(self, first: date, last: date) -> datetime:
        days = (last - first).days
        day = first + timedelta(days=self.random.randint(0, days))
        return datetime(day.year, day.month, day.day) + timedelta(
            seconds=self.random.randint(0, 86_399)
        )

    def month(self, month: SeedMonth, district: str) -> Iterator[dict[str, Any]]:
        """``month.total`` tickets of the district, exactly ``month.in_progress`` in progress."""
        for index in range(month.total):
            if index < month.in_progress:
                state, state_type = self.random.choice(IN_PROGRESS_STATES), "inprogress"
            else:
                state, state_type, _ = self.random.choices(
                    OTHER_STATES, weights=[w for *_, w in OTHER_STATES]
                )[0]
            yield self.feature(self.moment(month.first, month.last), district, state, state_type)


def seed_months(seed: int = 2566, others_per_ticket: float = 0.5) -> list[dict[str, Any]]:
    """Suan Luang's seed months plus other districts' tickets of the same dates."""
    factory = TicketFactory(seed)
    features: list[dict[str, Any]] = []
    for month in SEED_TABLE:
        features.extend(factory.month(month, "สวนหลวง"))
        others = int(month.total * others_per_ticket)
        for _ in range(others):
            district = factory.random.choice([d for d in DISTRICTS if d != "สวนหลวง"])
            state, state_type, _ = factory.random.choices(
                OTHER_STATES, weights=[w for *_, w in OTHER_STATES]
            )[0]
            features.append(
                factory.feature(
                    factory.moment(month.first, month.last), district, state, state_type
                )
            )
    return features


# --- A synthetic Bangkok: many tickets, fast, for benchmarks -------------------------------

BANGKOK_DISTRICTS: tuple[tuple[str, float], ...] = (
    ("บางกะปิ", 3.0), ("ประเวศ", 3.0), ("จตุจักร", 3.0), ("บางเขน", 2.8), ("ห้วยขวาง", 2.6),
    ("คลองเตย", 2.5), ("วัฒนา", 2.5), ("สวนหลวง", 2.4), ("บางนา", 2.3), ("ลาดพร้าว", 2.3),
    ("ดอนเมือง", 2.2), ("หลักสี่", 2.0), ("สายไหม", 2.2), ("บางซื่อ", 2.0), ("ดินแดง", 2.0),
    ("พญาไท", 1.8), ("ราชเทวี", 1.8), ("ปทุมวัน", 1.8), ("บางรัก", 1.6), ("สาทร", 1.6),
    ("ยานนาวา", 1.6), ("บางคอแหลม", 1.5), ("พระโขนง", 1.8), ("บึงกุ่ม", 1.8), ("คันนายาว", 1.4),
    ("สะพานสูง", 1.4), ("มีนบุรี", 1.6), ("คลองสามวา", 1.8), ("หนองจอก", 1.2),
    ("ลาดกระบัง", 1.8), ("วังทองหลาง", 1.4), ("บางพลัด", 1.4), ("บางกอกน้อย", 1.4),
    ("บางกอกใหญ่", 1.0), ("ธนบุรี", 1.4), ("คลองสาน", 1.2), ("จอมทอง", 1.6), ("ราษฎร์บูรณะ", 1.2),
    ("ทุ่งครุ", 1.2), ("บางขุนเทียน", 1.6), ("บางบอน", 1.2), ("ภาษีเจริญ", 1.6), ("หนองแขม", 1.6),
    ("บางแค", 1.8), ("ตลิ่งชัน", 1.4), ("ทวีวัฒนา", 1.2), ("พระนคร", 1.2),
    ("ป้อมปราบศัตรูพ่าย", 0.8), ("สัมพันธวงศ์", 0.8), ("ดุสิต", 1.2),
)  # fmt: skip
"""Bangkok's 50 districts with a relative weight: outer residential districts report more."""

BANGKOK_STATES: tuple[tuple[str, str, float], ...] = (
    ("เสร็จสิ้น", "finish", 0.74),
    ("กำลังดำเนินการ", "inprogress", 0.07),
    ("รับเรื่อง", "inprogress", 0.01),
    ("ศึกษาปัญหา", "inprogress", 0.005),
    ("ของบประมาณ", "inprogress", 0.005),
    ("จัดซื้อจัดจ้าง", "inprogress", 0.002),
    ("ส่งต่อ", "forward", 0.06),
    ("ส่งต่อ(ใหม่)", "forward", 0.005),
    ("ไม่เกี่ยวข้อง", "irrelevant", 0.05),
    ("รอรับเรื่อง", "start", 0.03),
    ("ติดตามเรื่อง", "follow", 0.018),
)
"""Current states over several years: most old tickets are finished."""

TYPE_WEIGHTS = (12, 8, 6, 10, 7, 7, 6, 5, 3, 5, 1, 1, 4)
TEXT_OPENINGS = ("แจ้งปัญหา", "ร้องเรียน", "ขอความช่วยเหลือ", "รบกวนตรวจสอบ", "")
TEXT_PLACES = ("หน้าปากซอย", "ริมถนนใหญ่", "ใกล้ตลาด", "หน้าโรงเรียน", "ใต้สะพาน", "ข้างป้ายรถเมล์")
NOTES = ("ดำเนินการแก้ไขเรียบร้อยแล้ว", "ประสานหน่วยงานที่เกี่ยวข้องแล้ว", "อยู่ระหว่างดำเนินการ", None)
ODD_KINDS = (
    "hotline_id",  # six characters, no year (1555 hotline tickets): valid
    "no_ticket_id",  # anonymous: empty ticket_id, message_id kept: valid
    "no_district",  # district null, the address names it: valid
    "province_prefix",  # จังหวัดกรุงเทพมหานคร: valid
    "no_location",  # coordinates 0, 0: valid
    "blank_star",  # star "": valid
    "placeholder_photo",  # Traffy's placeholder image: valid
    "video_after",  # after_photo is a video: valid
    "type_text_only",  # problem_type_fondue null, comma-joined type only: valid
    "unknown_state",  # a state nobody configured: valid, grouped as unknown
    "duplicate",  # served twice, the second copy more recently active: valid
    "bad_timestamp",  # not a time: rejected
    "bad_star",  # star 42: rejected
)
"""The odd records a synthetic Bangkok mixes in, each as the real feed shows it."""

_ID_ALPHABET = string.ascii_uppercase + string.digits
_ID_SPACE = 36**6
_ID_STRIDE = 1_295_029_573  # odd and coprime with 36**6: a bijective scramble of the counter


def _scrambled_id(counter: int) -> str:
    """Six unique-looking characters for a counter below 36**6, without a set of seen ids."""
    value = (counter * _ID_STRIDE + 7_777_777) % _ID_SPACE
    chars = []
    for _ in range(6):
        value, digit = divmod(value, 36)
        chars.append(_ID_ALPHABET[digit])
    return "".join(chars)


class SyntheticBangkok:
    """Tickets of all of Bangkok in the feed-1 shape, deterministic by seed, fast enough
    for a million (benchmarks), in ascending creation order.

    ``odd_share`` of the tickets are odd records (see ``ODD_KINDS``); about 29 % of all
    ids are hotline ids anyway, as in the real feed. Ids and message ids follow from
    each ticket's number: a second set mixed into the first must start its numbers
    after it (``first_number``), or the same id would name two tickets, which Traffy
    never does.
    """

    def __init__(
        self,
        seed: int = 7,
        *,
        first: date = date(2022, 1, 1),
        years: float = 4.0,
        odd_share: float = 0.03,
        districts: Sequence[str] | None = None,
        first_number: int = 0,
    ) -> None:
        self.seed = seed
        self.first_number = first_number
        self.first = first
        self.days = max(1, int(years * 365.25))
        self.odd_share = odd_share
        chosen = [(d, w) for d, w in BANGKOK_DISTRICTS if districts is None or d in districts]
        if not chosen:
            raise ValueError("no known district selected")
        self.districts = [d for d, _ in chosen]
        self.district_weights = [w for _, w in chosen]

    def features(self, count: int) -> Iterator[dict[str, Any]]:
        """``count`` tickets (plus their duplicates), spread over the years with growth."""
        r = random.Random(self.seed)
        start = datetime(self.first.year, self.first.month, self.first.day)
        span = self.days * 86_400
        # Volume grows over the years: creation offsets drawn from a rising density.
        offsets = sorted(int(span * (r.random() ** 0.8)) for _ in range(count))
        states = r.choices(BANGKOK_STATES, weights=[w for *_, w in BANGKOK_STATES], k=count)
        districts = r.choices(self.districts, weights=self.district_weights, k=count)
        pending: list[tuple[int, dict[str, Any]]] = []  # duplicates, served later
        for index, offset in enumerate(offsets):
            while pending and pending[0][0] <= index:
                yield pending.pop(0)[1]
            created = start + timedelta(seconds=offset)
            odd = r.choice(ODD_KINDS) if r.random() < self.odd_share else None
            number = self.first_number + index
            feature = self._feature(r, number, created, districts[index], states[index], odd)
            yield feature
            if odd == "duplicate":
                again = _deep_copy_feature(feature)
                properties = again["properties"]
                properties["last_activity"] = f"{created + timedelta(days=30):%Y-%m-%d %H:%M:%S}"
                properties["view_count"] = int(properties["view_count"] or 0) + 1
                pending.append((index + r.randint(1, 3000), again))
        for _, feature in pending:
            yield feature

    def _feature(
        self,
        r: random.Random,
        number: int,
        created: datetime,
        district: str,
        state: tuple[str, str, float],
        odd: str | None,
    ) -> dict[str, Any]:
        state_th, state_type, _ = state
        types = r.choices(TYPES, weights=TYPE_WEIGHTS, k=1 if r.random() < 0.8 else 2)
        if len(types) == 2 and types[0] == types[1]:
            types = types[:1]
        section = f"{r.choice(SECTIONS)} เขต{district}"
        orgs = ["กรุงเทพมหานคร", f"เขต{district}", section]
        if r.random() < 0.15:
            orgs.append("การไฟฟ้านครหลวง")
        started = created + timedelta(minutes=r.randint(5, 2_000))
        done = started + timedelta(minutes=r.randint(30, 60 * 24 * 40))
        finished = state_type in ("finish", "irrelevant")
        acted = state_type in ("inprogress", "finish", "irrelevant", "follow")
        last = done if finished else (started if acted else created)
        lat, lon = _district_point(district)
        subdistrict = f"{district}{'เหนือ' if r.random() < 0.5 else 'ใต้'}"
        ticket_id = (
            _scrambled_id(number)
            if r.random() < 0.29 or odd == "hotline_id"
            else f"{created.year}-{_scrambled_id(number)}"
        )
        text = (
            f"{r.choice(TEXT_OPENINGS)} {r.choice(TEXTS)} {r.choice(TEXT_PLACES)} "
            f"ซอย {r.randint(1, 120)} โทร 08{r.randint(0, 99_999_999):08d}"
        ).strip()
        stamp = "%Y-%m-%d %H:%M:%S"
        properties: dict[str, Any] = {
            "problem_type_fondue": types,
            "org": orgs,
            "org_action": orgs[1:] if acted else [],
            "description": text,
            "message_id": 1_000_000 + number,
            "ticket_id": ticket_id,
            "photo_url": f"https://storage.googleapis.com/traffy_public_bucket/attachment/{created:%Y-%m}/{r.getrandbits(64):016x}.jpg",
            "after_photo": (
                f"https://storage.googleapis.com/traffy_public_bucket/attachment/{done:%Y-%m}/{r.getrandbits(64):016x}.jpg"
                if finished
                else None
            ),
            "address": (
                f"{r.randint(1, 999)}/{r.randint(1, 99)} ซอย {r.randint(1, 120)} แขวง{subdistrict} "
                f"เขต{district} กรุงเทพมหานคร 10{r.randint(100, 599)} ประเทศไทย"
            ),
            "subdistrict": subdistrict,
            "district": district,
            "province": "กรุงเทพมหานคร",
            "problem_type_abdul": None,
            "star": r.choice((None, None, None, 3, 4, 5, 5)) if finished else None,
            "count_reopen": 1 if r.random() < 0.05 else 0,
            "note": r.choice(NOTES) if acted else None,
            "description_reporter": None,
            "state": state_th,
            "state_type_latest": state_type,
            "duration_minutes_inprogress": None,
            "duration_minutes_finished": None,
            "duration_minutes_total": None,
            "view_count": r.randint(0, 60),
            "timestamp": f"{created:{stamp}}",
            "last_activity": f"{last:{stamp}}",
            "timestamp_inprogress": f"{started:{stamp}}" if acted else None,
            "timestamp_finished": f"{done:{stamp}}" if finished else None,
            "type": ",".join(types),
            "see_info": True,
            "total_point": 0,
            "like": 0,
            "dislike": 0,
        }
        coordinates = [
            round(lon + r.uniform(-0.03, 0.03), 5),
            round(lat + r.uniform(-0.03, 0.03), 5),
        ]
        if odd is not None:
            _make_odd(odd, properties, coordinates)
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": coordinates},
            "properties": properties,
        }


def _make_odd(odd: str, properties: dict[str, Any], coordinates: list[float]) -> None:
    """Turn a regular feature into the odd record ``odd`` names (see ``ODD_KINDS``)."""
    if odd == "no_ticket_id":
        properties["ticket_id"] = ""
    elif odd == "no_district":
        properties["district"] = None
    elif odd == "province_prefix":
        properties["province"] = "จังหวัดกรุงเทพมหานคร"
    elif odd == "no_location":
        coordinates[:] = [0.0, 0.0]
    elif odd == "blank_star":
        properties["star"] = ""
    elif odd == "placeholder_photo":
        properties["photo_url"] = "https://storage.googleapis.com/TeamChadChart/fondue_photo.png"
    elif odd == "video_after":
        properties["after_photo"] = str(properties["photo_url"]).replace(".jpg", ".mp4")
    elif odd == "type_text_only":
        properties["problem_type_fondue"] = None
    elif odd == "unknown_state":
        properties["state"] = "รอตรวจสอบ"
        properties["state_type_latest"] = None
    elif odd == "bad_timestamp":
        properties["timestamp"] = "not a time"
    elif odd == "bad_star":
        properties["star"] = 42


def _deep_copy_feature(feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": feature["type"],
        "geometry": {
            **feature["geometry"],
            "coordinates": list(feature["geometry"]["coordinates"]),
        },
        "properties": dict(feature["properties"]),
    }


def _district_point(district: str) -> tuple[float, float]:
    """A stable point per district around Bangkok's centre (not its real centroid)."""
    known = DISTRICTS.get(district)
    if known is not None:
        return known[1], known[2]
    h = sum(ord(c) * (i + 1) for i, c in enumerate(district))
    return 13.60 + (h % 300) / 1000, 100.40 + (h // 300 % 400) / 1000
