"""Synthetic Traffy tickets in the feed-1 shape, deterministic by seed.

``seed_months()`` builds Suan Luang's six months of fiscal 2566 so that the
pipeline's KPI reproduces the office's hand-made table exactly (April 2566:
398 tickets, 10 in progress, 2.51 %); other districts' tickets are mixed in,
as the real feed (which has no district filter) mixes them.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

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
        section = f"{r.choice(SECTIONS)} เขต{district}"
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
                "description": r.choice(TEXTS),
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
