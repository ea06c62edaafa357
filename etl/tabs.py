"""The tabs the pipeline owns: their columns, types and row keys.

Each tab is described by a pydantic row model. The model is the single source
of the tab's column order, the JSON Schema in ``schemas/`` (the contract the
Looker Studio report is built on) and the column kinds sinks use to type
cells. Columns are stable ASCII snake_case and only ever appended.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

ColumnKind = Literal["text", "int", "float", "bool", "date", "datetime"]


def col(description: str, thai: str, *, thai_description: str | None = None, **kwargs: Any) -> Any:
    """A column with its English description, the Thai label users see and its
    description in Thai (``description_th``, for the measures with the formula) for
    the district's staff. Every column has one (tests/test_schemas.py)."""
    extra: dict[str, Any] = {"title_th": thai}
    if thai_description:
        extra["description_th"] = thai_description
    return Field(description=description, json_schema_extra=extra, **kwargs)


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComplaintRow(Row):
    """One row per ticket of the district (tab ``complaints``)."""

    ticket_id: str = col(
        "Traffy ticket id, e.g. 2023-ABCDEF (key)",
        "เลขที่เรื่อง",
        thai_description="เลขที่เรื่องร้องเรียนของ Traffy เช่น 2023-ABCDEF (คีย์ของแถว)",
    )
    message_id: int | None = col(
        "Traffy's internal increasing message number",
        "เลขข้อความ",
        thai_description="เลขข้อความภายในของ Traffy ซึ่งเพิ่มขึ้นตามลำดับ",
    )
    created_at: datetime = col(
        "When the ticket was reported (Asia/Bangkok)",
        "วันเวลาที่แจ้ง",
        thai_description="วันที่และเวลาที่แจ้งเรื่อง ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    month: date = col(
        "First day of the creation month (Asia/Bangkok)",
        "เดือนที่แจ้ง",
        thai_description="วันที่ 1 ของเดือนที่แจ้งเรื่อง ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    state: str = col(
        "Current Traffy state, in Thai",
        "สถานะ",
        thai_description="สถานะปัจจุบันของเรื่องใน Traffy เป็นภาษาไทย",
    )
    state_group: str = col(
        "State group: waiting, in_progress, forwarded, following, finished, irrelevant, unknown",
        "กลุ่มสถานะ",
        thai_description=(
            "กลุ่มสถานะ: waiting, in_progress, forwarded, following, finished, irrelevant หรือ unknown"
        ),
    )
    state_type: str | None = col(
        "Traffy's state_type (start, inprogress, ...)",
        "ประเภทสถานะ",
        thai_description="ค่า state_type ของ Traffy (start, inprogress, ...)",
    )
    types: str | None = col(
        "Complaint types, comma separated",
        "ประเภทปัญหา",
        thai_description="ประเภทปัญหาของเรื่อง คั่นด้วยเครื่องหมายจุลภาค (,)",
    )
    organizations: str | None = col(
        "Agencies the ticket was routed to", "หน่วยงาน", thai_description="หน่วยงานที่ได้รับเรื่องนี้"
    )
    sections: str | None = col(
        "Sections (ฝ่าย) of the district office among the agencies",
        "ฝ่ายที่รับผิดชอบ",
        thai_description="ฝ่ายของสำนักงานเขตในบรรดาหน่วยงานที่ได้รับเรื่อง",
    )
    district: str | None = col(
        "District (เขต), without prefix", "เขต", thai_description="ชื่อเขต ไม่มีคำนำหน้า “เขต”"
    )
    subdistrict: str | None = col(
        "Sub-district (แขวง), without prefix", "แขวง", thai_description="ชื่อแขวง ไม่มีคำนำหน้า “แขวง”"
    )
    province: str | None = col("Province", "จังหวัด", thai_description="ชื่อจังหวัด")
    address: str | None = col("Address as reported", "ที่อยู่", thai_description="ที่อยู่ตามที่แจ้ง")
    description: str | None = col(
        "The citizen's complaint text", "รายละเอียด", thai_description="ข้อความร้องเรียนของประชาชน"
    )
    note: str | None = col(
        "The agency's latest note", "หมายเหตุ", thai_description="หมายเหตุล่าสุดของหน่วยงาน"
    )
    lat: float | None = col("Latitude (WGS84)", "ละติจูด", thai_description="ละติจูด (WGS84)")
    lon: float | None = col("Longitude (WGS84)", "ลองจิจูด", thai_description="ลองจิจูด (WGS84)")
    latlong: str | None = col(
        "'lat,lon' text for Looker Studio's Geo type",
        "พิกัด",
        thai_description="ข้อความ 'lat,lon' สำหรับชนิดข้อมูล Geo ของ Looker Studio",
    )
    photo_url: str | None = col(
        "Photo at reporting time",
        "รูปก่อนแก้ไข",
        thai_description="รูปภาพที่แนบมาเมื่อแจ้งเรื่อง (สภาพก่อนแก้ไข)",
    )
    after_photo_url: str | None = col(
        "Photo (or video) after the fix",
        "รูปหลังแก้ไข",
        thai_description="รูปภาพ (หรือวิดีโอ) หลังดำเนินการ",
    )
    traffy_url: str = col(
        "The ticket's public Traffy page",
        "ลิงก์ Traffy",
        thai_description="หน้าเว็บสาธารณะของเรื่องใน Traffy",
    )
    count_reopen: int = col(
        "Times the ticket was reopened", "จำนวนครั้งที่เปิดใหม่", thai_description="จำนวนครั้งที่เรื่องถูกเปิดใหม่"
    )
    star: int | None = col(
        "Citizen's rating, 1-5", "คะแนนความพึงพอใจ", thai_description="คะแนนความพึงพอใจที่ประชาชนให้ 1-5"
    )
    view_count: int | None = col(
        "Views on Traffy", "จำนวนผู้เข้าชม", thai_description="จำนวนครั้งที่มีผู้เข้าชมเรื่องใน Traffy"
    )
    last_activity: datetime | None = col(
        "Last change on Traffy (Asia/Bangkok)",
        "ความเคลื่อนไหวล่าสุด",
        thai_description="เวลาที่เรื่องเปลี่ยนแปลงล่าสุดใน Traffy ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    inprogress_at: datetime | None = col(
        "When work started (Asia/Bangkok)",
        "เวลาเริ่มดำเนินการ",
        thai_description="เวลาที่เริ่มดำเนินการ ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    finished_at: datetime | None = col(
        "When the ticket was finished (Asia/Bangkok)",
        "เวลาเสร็จสิ้น",
        thai_description="เวลาที่เรื่องเสร็จสิ้น ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )


class ComplaintTypeRow(Row):
    """One row per ticket and complaint type (tab ``complaint_types``)."""

    ticket_id: str = col(
        "Traffy ticket id", "เลขที่เรื่อง", thai_description="เลขที่เรื่องร้องเรียนของ Traffy"
    )
    type: str = col(
        "One complaint type of the ticket",
        "ประเภทปัญหา",
        thai_description="ประเภทปัญหาหนึ่งประเภทของเรื่อง",
    )


class ComplaintOrgRow(Row):
    """One row per ticket and agency it was routed to (tab ``complaint_orgs``)."""

    ticket_id: str = col(
        "Traffy ticket id", "เลขที่เรื่อง", thai_description="เลขที่เรื่องร้องเรียนของ Traffy"
    )
    organization: str = col("Agency or section name", "หน่วยงาน", thai_description="ชื่อหน่วยงานหรือฝ่าย")
    is_section: bool = col(
        "True for a section (ฝ่าย) of the district office",
        "เป็นฝ่ายของเขต",
        thai_description="True เมื่อเป็นฝ่ายของสำนักงานเขต",
    )
    acting: bool = col(
        "True when the agency acted on the ticket (org_action)",
        "ดำเนินการ",
        thai_description="True เมื่อหน่วยงานได้ดำเนินการกับเรื่องนี้ (org_action)",
    )


class KpiMonthlyRow(Row):
    """One row per creation month (tab ``kpi_monthly``): what the executives read."""

    month: date = col(
        "First day of the creation month (Asia/Bangkok) (key)",
        "เดือน",
        thai_description="วันที่ 1 ของเดือนที่แจ้งเรื่อง ตามเวลากรุงเทพฯ (Asia/Bangkok) (คีย์ของแถว)",
    )
    month_th: str = col(
        "Thai month name and Buddhist-era year",
        "เดือน (พ.ศ.)",
        thai_description="ชื่อเดือนภาษาไทยและปีพุทธศักราช",
    )
    total: int = col(
        "Tickets created that month, whatever their state",
        "เรื่องทั้งหมด",
        thai_description="จำนวนเรื่องที่แจ้งในเดือนนั้นทั้งหมด ไม่ว่าจะอยู่ในสถานะใด",
    )
    in_progress: int = col(
        "Of those, tickets now in the in-progress group",
        "กำลังดำเนินการ",
        thai_description="จำนวนเรื่องของเดือนนั้นที่ขณะนี้อยู่ในกลุ่มสถานะกำลังดำเนินการ",
    )
    in_progress_pct: float = col(
        "in_progress x 100 / total, rounded half-up to 2 decimals",
        "ร้อยละกำลังดำเนินการ",
        thai_description=(
            "in_progress x 100 / total ปัดเศษแบบปัดครึ่งขึ้นเป็นทศนิยม 2 ตำแหน่ง ตามที่สำนักงานเขตคำนวณ"
        ),
    )
    in_progress_ratio: float = col(
        "in_progress / total (0-1), for Looker Studio's Percent type",
        "สัดส่วนกำลังดำเนินการ",
        thai_description="in_progress / total (0-1) สำหรับชนิดข้อมูล Percent ของ Looker Studio",
    )
    waiting: int = col(
        "Tickets now waiting to be accepted", "รอรับเรื่อง", thai_description="จำนวนเรื่องที่ขณะนี้รอรับเรื่อง"
    )
    forwarded: int = col(
        "Tickets now forwarded to another agency",
        "ส่งต่อ",
        thai_description="จำนวนเรื่องที่ขณะนี้ถูกส่งต่อไปยังหน่วยงานอื่น",
    )
    following: int = col(
        "Tickets now being followed up",
        "ติดตามเรื่อง",
        thai_description="จำนวนเรื่องที่ขณะนี้อยู่ระหว่างติดตามเรื่อง",
    )
    finished: int = col(
        "Tickets now finished", "เสร็จสิ้น", thai_description="จำนวนเรื่องที่ขณะนี้เสร็จสิ้นแล้ว"
    )
    irrelevant: int = col(
        "Tickets judged not relevant", "ไม่เกี่ยวข้อง", thai_description="จำนวนเรื่องที่ถูกพิจารณาว่าไม่เกี่ยวข้อง"
    )
    unknown: int = col(
        "Tickets in a state the config does not know",
        "สถานะไม่ทราบ",
        thai_description="จำนวนเรื่องที่อยู่ในสถานะที่การตั้งค่า (config) ไม่รู้จัก",
    )
    as_of: datetime = col(
        "When these numbers were computed (Asia/Bangkok)",
        "ข้อมูล ณ วันที่",
        thai_description="เวลาที่คำนวณตัวเลขเหล่านี้ ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    finished_timed: int = col(
        "Tickets with a known finish moment: the staff fixed_on date when present, else "
        "Traffy's timestamp_finished of a ticket now finished. The base of days_to_finish_*",
        "เรื่องที่ทราบวันแก้ไขเสร็จ",
        thai_description=(
            "จำนวนเรื่องที่ทราบวันแก้ไขเสร็จ: ใช้วันที่แก้ไขเสร็จ (fixed_on) "
            "ที่เจ้าหน้าที่บันทึกเมื่อมี มิฉะนั้นใช้เวลาเสร็จสิ้นของ Traffy "
            "ของเรื่องที่เสร็จสิ้นแล้ว"
        ),
    )
    days_to_finish_median: float | None = col(
        "Median of (finish moment - created_at) in days (hours / 24) over finished_timed "
        "tickets, rounded to 2 decimals; a fixed_on date counts from its midnight, a fix "
        "dated the day of reporting counts 0. Empty when finished_timed is 0",
        "มัธยฐานจำนวนวันจนแก้ไขเสร็จ",
        thai_description=(
            "มัธยฐานของจำนวนวันตั้งแต่แจ้งจนแก้ไขเสร็จ (ชั่วโมง / 24) ปัดเป็นทศนิยม 2 ตำแหน่ง "
            "วันที่ fixed_on นับจากเวลา 00:00 ของวันนั้น แก้ไขเสร็จในวันที่แจ้งนับเป็น 0 วัน "
            "ว่างเมื่อ finished_timed เป็น 0"
        ),
    )
    days_to_finish_p90: float | None = col(
        "90th percentile of the same days (linear interpolation, as Sheets PERCENTILE), "
        "rounded to 2 decimals; empty when finished_timed is 0",
        "เปอร์เซ็นไทล์ที่ 90 ของจำนวนวันจนแก้ไขเสร็จ",
        thai_description=(
            "เปอร์เซ็นไทล์ที่ 90 ของจำนวนวันเดียวกัน (ประมาณค่าเชิงเส้นแบบ PERCENTILE ของ "
            "Sheets) ปัดเป็นทศนิยม 2 ตำแหน่ง ว่างเมื่อ finished_timed เป็น 0"
        ),
    )
    reopened: int = col(
        "Tickets reopened at least once (count_reopen > 0)",
        "เรื่องที่ถูกเปิดใหม่",
        thai_description="จำนวนเรื่องที่ถูกเปิดใหม่อย่างน้อยหนึ่งครั้ง (count_reopen > 0)",
    )
    reopened_ratio: float = col(
        "reopened / total (0-1), for Looker Studio's Percent type",
        "สัดส่วนเรื่องที่ถูกเปิดใหม่",
        thai_description="reopened / total (0-1) สำหรับชนิดข้อมูล Percent ของ Looker Studio",
    )
    rated: int = col(
        "Tickets the citizen rated (star 1-5)",
        "เรื่องที่ได้รับคะแนน",
        thai_description="จำนวนเรื่องที่ประชาชนให้คะแนน (1-5 ดาว)",
    )
    star_mean: float | None = col(
        "Mean star of the rated tickets, rounded to 2 decimals; empty when rated is 0",
        "คะแนนความพึงพอใจเฉลี่ย",
        thai_description=("ค่าเฉลี่ยคะแนนของเรื่องที่ได้รับคะแนน ปัดเป็นทศนิยม 2 ตำแหน่ง ว่างเมื่อ rated เป็น 0"),
    )


class RejectRow(Row):
    """One row per invalid record (tab ``rejects``): quarantined, never dropped."""

    reject_id: str = col(
        "Hash of the raw record (key)",
        "รหัสรายการ",
        thai_description="ค่าแฮช (hash) ของรายการข้อมูลดิบ (คีย์ของแถว)",
    )
    ticket_id: str | None = col(
        "Ticket id, when the record had one", "เลขที่เรื่อง", thai_description="เลขที่เรื่อง (ถ้ารายการนั้นมี)"
    )
    reason: str = col(
        "Why the record was rejected", "เหตุผล", thai_description="เหตุผลที่รายการไม่ผ่านการตรวจสอบ"
    )
    source: str = col(
        "Feed and page the record came from",
        "แหล่งข้อมูล",
        thai_description="ฟีด (feed) และหน้า (page) ที่รายการนี้มาจาก",
    )
    raw_json: str = col(
        "The record as received", "ข้อมูลดิบ", thai_description="ข้อมูลของรายการตามที่ได้รับมา"
    )
    rejected_at: datetime = col(
        "When it was rejected (Asia/Bangkok)",
        "เวลาที่ตรวจพบ",
        thai_description="เวลาที่รายการไม่ผ่านการตรวจสอบ ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )


class SyncRow(Row):
    """One row per key of the sync state (tab ``_sync``): not for Looker Studio.

    Kept in the sink itself so a cron run on a fresh machine and a run from a
    terminal continue from the same cursor (``etl.traffy.incremental``).
    """

    key: str = col(
        "State key: district, feed, cursor, covered_since, records_per_day",
        "คีย์",
        thai_description=(
            "คีย์ของสถานะการซิงก์: district, feed, cursor, covered_since หรือ records_per_day"
        ),
    )
    value: str | None = col(
        "The key's value as text (ISO dates, Asia/Bangkok)",
        "ค่า",
        thai_description="ค่าของคีย์เป็นข้อความ (วันที่รูปแบบ ISO ตามเวลากรุงเทพฯ Asia/Bangkok)",
    )


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    required: bool


@dataclass(frozen=True)
class TabSpec:
    """A tab: its id (default name), row model and the columns that identify a row."""

    name: str
    row_model: type[Row]
    key: tuple[str, ...]
    for_looker: bool = True
    """False for the pipeline's own bookkeeping tabs (hidden in Sheets)."""

    @functools.cached_property
    def columns(self) -> list[Column]:
        """Worked out once per tab: sinks ask for it per row read back."""
        return [
            Column(name, _kind(field.annotation), field.is_required())
            for name, field in self.row_model.model_fields.items()
        ]

    @functools.cached_property
    def column_names(self) -> list[str]:
        return list(self.row_model.model_fields)

    def empty(self) -> pd.DataFrame:
        """A frame with no rows and the tab's columns, typed as sinks expect."""
        return pd.DataFrame(
            {column.name: pd.Series(dtype=_DTYPES[column.kind]) for column in self.columns}
        )


_KINDS: dict[Any, ColumnKind] = {
    str: "text",
    int: "int",
    float: "float",
    bool: "bool",
    date: "date",
    datetime: "datetime",
}


_DTYPES: dict[ColumnKind, str] = {
    "text": "object",
    "int": "Int64",
    "float": "float64",
    "bool": "bool",
    "date": "datetime64[ns]",
    "datetime": "datetime64[ns]",
}


def _kind(annotation: Any) -> ColumnKind:
    """``int | None`` -> ``int``: the kind a sink types the column's cells as."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return _KINDS[annotation]


TABS: dict[str, TabSpec] = {
    spec.name: spec
    for spec in (
        TabSpec("complaints", ComplaintRow, ("ticket_id",)),
        TabSpec("complaint_types", ComplaintTypeRow, ("ticket_id", "type")),
        TabSpec("complaint_orgs", ComplaintOrgRow, ("ticket_id", "organization")),
        TabSpec("kpi_monthly", KpiMonthlyRow, ("month",)),
        TabSpec("rejects", RejectRow, ("reject_id",)),
        TabSpec("_sync", SyncRow, ("key",), for_looker=False),
    )
}
"""Every pipeline-owned tab, by id, in the order they are written."""


# Bookkeeping tabs: kept by the sinks for the pipeline itself, not for Looker Studio.
STATE_TAB = "_state"
RUNS_TAB = "_runs"


class StateRow(Row):
    """One setting of the sink (tab ``_state``), key and value as text."""

    key: str = col("Setting name", "ชื่อ", thai_description="ชื่อการตั้งค่า")
    value: str | None = col("Setting value", "ค่า", thai_description="ค่าของการตั้งค่า")


class RunRow(Row):
    """One row per pipeline run (tab ``_runs``)."""

    run_id: str = col("Run id", "รหัสการรัน", thai_description="รหัสของการรัน")
    started_at: datetime = col(
        "Run start (Asia/Bangkok)",
        "เริ่ม",
        thai_description="เวลาเริ่มการรัน ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    finished_at: datetime = col(
        "Run end (Asia/Bangkok)",
        "สิ้นสุด",
        thai_description="เวลาสิ้นสุดการรัน ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    outcome: str = col(
        "ok, or the error class", "ผลลัพธ์", thai_description="ok หรือชื่อประเภทข้อผิดพลาด (error class)"
    )
    tickets_fetched: int = col(
        "Tickets fetched from Traffy", "จำนวนเรื่องที่ดึง", thai_description="จำนวนเรื่องที่ดึงจาก Traffy"
    )
    rejects: int = col(
        "Records rejected by validation",
        "รายการที่ถูกปฏิเสธ",
        thai_description="จำนวนรายการที่ไม่ผ่านการตรวจสอบความถูกต้อง",
    )
    inserted: int = col(
        "Rows inserted, all tabs", "แถวที่เพิ่ม", thai_description="จำนวนแถวที่เพิ่ม รวมทุกแท็บ"
    )
    updated: int = col(
        "Rows updated, all tabs", "แถวที่แก้ไข", thai_description="จำนวนแถวที่แก้ไข รวมทุกแท็บ"
    )
    deleted: int = col("Rows deleted, all tabs", "แถวที่ลบ", thai_description="จำนวนแถวที่ลบ รวมทุกแท็บ")
    per_tab: str = col(
        "tab: +inserted ~updated -deleted, per tab",
        "รายละเอียดต่อแท็บ",
        thai_description="จำนวนแถวแยกตามแท็บ ในรูปแบบ tab: +inserted ~updated -deleted",
    )
    api_calls: int = col(
        "Sheets API requests", "จำนวนคำขอ API", thai_description="จำนวนคำขอ Sheets API"
    )
    message: str | None = col(
        "Error message, if any", "ข้อความ", thai_description="ข้อความแสดงข้อผิดพลาด (ถ้ามี)"
    )
    mode: str | None = col(
        "sync, verify (a full re-read that repairs) or backfill (monthly files)",
        "ประเภทการรัน",
        thai_description="sync, verify (อ่านใหม่ทั้งหมดเพื่อตรวจและซ่อม) หรือ backfill (ไฟล์รายเดือน)",
    )
    windows_read: int | None = col(
        "Creation-date windows read in full",
        "ช่วงวันที่อ่านครบ",
        thai_description="จำนวนช่วงวันที่สร้างเรื่องที่อ่านจาก Traffy ครบทุกหน้า",
    )
    windows_rescanned: int | None = col(
        "Windows read again (pages that shifted, came back short or empty)",
        "ช่วงที่อ่านซ้ำ",
        thai_description="จำนวนครั้งที่ต้องอ่านช่วงวันที่ซ้ำ เพราะหน้าข้อมูลเลื่อน ขาด หรือว่าง",
    )
    records_expected: int | None = col(
        "Records the Traffy server counted in the windows read (its total)",
        "รายการที่เซิร์ฟเวอร์นับได้",
        thai_description="จำนวนรายการที่เซิร์ฟเวอร์ Traffy แจ้ง (total) ในช่วงวันที่ที่อ่าน",
    )
    records_read: int | None = col(
        "Records read in those windows: at least records_expected",
        "รายการที่อ่านได้",
        thai_description="จำนวนรายการที่อ่านได้ในช่วงเดียวกัน ต้องไม่น้อยกว่าที่เซิร์ฟเวอร์นับ",
    )


STATE = TabSpec(STATE_TAB, StateRow, ("key",), for_looker=False)
RUNS = TabSpec(RUNS_TAB, RunRow, ("run_id",), for_looker=False)


class ActionRow(Row):
    """One row per ticket for the district's staff (tab ``actions``).

    The pipeline adds a row per new ticket and keeps the reference columns
    current; staff own the action columns, which the pipeline never writes
    after creating the row. Staff may sort the tab and add rows or columns:
    rows are found by ticket id and columns by header name.
    """

    ticket_id: str = col(
        "Traffy ticket id (key)",
        "เลขที่เรื่อง",
        thai_description="เลขที่เรื่องร้องเรียนของ Traffy (คีย์ของแถว)",
    )
    created_at: datetime = col(
        "When the ticket was reported (Asia/Bangkok)",
        "วันเวลาที่แจ้ง",
        thai_description="วันที่และเวลาที่แจ้งเรื่อง ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    state: str = col(
        "Current Traffy state, in Thai",
        "สถานะ",
        thai_description="สถานะปัจจุบันของเรื่องใน Traffy เป็นภาษาไทย",
    )
    section: str | None = col(
        "Sections (ฝ่าย) the ticket was routed to", "ฝ่ายที่รับเรื่อง", thai_description="ฝ่ายที่ได้รับเรื่องนี้"
    )
    traffy_url: str = col(
        "The ticket's public Traffy page",
        "ลิงก์ Traffy",
        thai_description="หน้าเว็บสาธารณะของเรื่องใน Traffy",
    )
    photo_url: str | None = col(
        "Photo at reporting time", "รูปที่แจ้ง", thai_description="รูปภาพเมื่อแจ้งเรื่อง"
    )
    responsible_section: str | None = col(
        "Section staff assigned (staff)",
        "ฝ่ายผู้รับผิดชอบ",
        thai_description="ฝ่ายที่เจ้าหน้าที่มอบหมายให้รับผิดชอบ (เจ้าหน้าที่บันทึก)",
    )
    action_taken: str | None = col(
        "What was done (staff)", "การดำเนินการ", thai_description="สิ่งที่ได้ดำเนินการ (เจ้าหน้าที่บันทึก)"
    )
    fixed_on: date | None = col(
        "Date the problem was fixed (staff)",
        "วันที่แก้ไขเสร็จ",
        thai_description="วันที่แก้ไขปัญหาเสร็จ (เจ้าหน้าที่บันทึก)",
    )
    before_photo_url: str | None = col(
        "Photo before the fix (staff)",
        "รูปก่อนแก้ไข",
        thai_description="รูปภาพก่อนดำเนินการ (เจ้าหน้าที่บันทึก)",
    )
    after_photo_url: str | None = col(
        "Photo after the fix (staff)",
        "รูปหลังแก้ไข",
        thai_description="รูปภาพหลังดำเนินการ (เจ้าหน้าที่บันทึก)",
    )
    note: str | None = col("Staff note", "หมายเหตุ", thai_description="หมายเหตุของเจ้าหน้าที่")


ACTIONS = TabSpec("actions", ActionRow, ("ticket_id",))
"""The staff tab: not in ``TABS`` because only the Sheets sink keeps it."""

ACTION_REFERENCE_COLUMNS = (
    "ticket_id",
    "created_at",
    "state",
    "section",
    "traffy_url",
    "photo_url",
)
"""Columns of ``actions`` the pipeline writes and keeps current."""

ACTION_STAFF_COLUMNS = (
    "responsible_section",
    "action_taken",
    "fixed_on",
    "before_photo_url",
    "after_photo_url",
    "note",
)
"""Columns of ``actions`` only staff write (created empty)."""


# --- Executive KPIs, history and the Looker Studio contract (issue 5) -------------

SCHEMA_VERSION = 1
"""The published contract's version (tab ``meta``). Appending a column or a tab
keeps it; renaming, removing, retyping or reordering a published column bumps
it, with a note in CHANGELOG.md and an updated ``schemas/published.json``."""

NOT_GIVEN = "ไม่ระบุ"
"""The breakdown value of tickets with no type, agency or sub-district."""


def _fields(model: type[Row], names: list[str] | None = None) -> dict[str, Any]:
    """``create_model`` definitions copying ``model``'s columns (all, or ``names``)."""
    fields = model.model_fields
    return {name: (fields[name].annotation, fields[name]) for name in names or list(fields)}


def _breakdown(name: str, doc: str, **by: Any) -> type[Row]:
    """A ``kpi_monthly`` row split by one more dimension: month, value, the same measures.

    Built from ``KpiMonthlyRow`` so a measure appended there is appended here too.
    """
    measures = [n for n in KpiMonthlyRow.model_fields if n not in ("month", "month_th")]
    model: type[Row] = create_model(
        name,
        __base__=Row,
        __doc__=doc,
        **_fields(KpiMonthlyRow, ["month", "month_th"]),
        **by,
        **_fields(KpiMonthlyRow, measures),
    )
    return model


KpiMonthlyByOrgRow = _breakdown(
    "KpiMonthlyByOrgRow",
    "One row per creation month and agency (tab ``kpi_monthly_by_org``); a ticket "
    "routed to several agencies counts under each.",
    organization=(
        str,
        col(
            "Agency or section the tickets were routed to (key)",
            "หน่วยงาน",
            thai_description="หน่วยงานหรือฝ่ายที่ได้รับเรื่อง (คีย์ของแถว)",
        ),
    ),
    is_section=(
        bool,
        col(
            "True for a section (ฝ่าย) of the district office",
            "เป็นฝ่ายของเขต",
            thai_description="True เมื่อเป็นฝ่ายของสำนักงานเขต",
        ),
    ),
)
KpiMonthlyByTypeRow = _breakdown(
    "KpiMonthlyByTypeRow",
    "One row per creation month and complaint type (tab ``kpi_monthly_by_type``); a "
    "ticket of several types counts under each.",
    type=(
        str,
        col(
            "Complaint type (key); ไม่ระบุ when the ticket has none",
            "ประเภทปัญหา",
            thai_description="ประเภทปัญหา (คีย์ของแถว) ใช้ “ไม่ระบุ” เมื่อเรื่องไม่มีประเภทปัญหา",
        ),
    ),
)
KpiMonthlyBySubdistrictRow = _breakdown(
    "KpiMonthlyBySubdistrictRow",
    "One row per creation month and sub-district (tab ``kpi_monthly_by_subdistrict``).",
    subdistrict=(
        str,
        col(
            "Sub-district (แขวง) (key); ไม่ระบุ when unknown",
            "แขวง",
            thai_description="แขวง (คีย์ของแถว) ใช้ “ไม่ระบุ” เมื่อไม่ทราบแขวง",
        ),
    ),
)


CITY = "กรุงเทพมหานคร"
"""The city-wide row of ``kpi_monthly_by_district``: Bangkok's 50 districts together."""

KpiMonthlyByDistrictRow: type[Row] = create_model(
    "KpiMonthlyByDistrictRow",
    __base__=Row,
    **_fields(KpiMonthlyRow, ["month", "month_th"]),
    district=(
        str,
        col(
            f"District (เขต), without prefix (key); {CITY} for the 50 districts together",
            "เขต",
            thai_description=(f"ชื่อเขต ไม่มีคำนำหน้า “เขต” (คีย์ของแถว) ใช้ “{CITY}” สำหรับทั้ง 50 เขตรวมกัน"),
        ),
    ),
    **_fields(
        KpiMonthlyRow, [n for n in KpiMonthlyRow.model_fields if n not in ("month", "month_th")]
    ),
    __doc__="One row per creation month and Bangkok district, plus the city-wide row "
    "(tab ``kpi_monthly_by_district``): the district against the city, with its rank. "
    "Counted on Traffy's states and finish times (not the staff's ``fixed_on``, which "
    "only the district's own spreadsheet holds).",
    in_progress_rank=(
        int | None,
        col(
            "The district's rank that month by in_progress_pct among the districts with at "
            "least rank_min_tickets tickets: 1 is the smallest share still in progress; "
            "ties share a rank (1, 1, 3). Empty for the city row and for a district with "
            "fewer tickets",
            "อันดับร้อยละกำลังดำเนินการ",
            thai_description=(
                "อันดับของเขตในเดือนนั้นตาม in_progress_pct ในบรรดาเขตที่มีเรื่องอย่างน้อย "
                "rank_min_tickets เรื่อง: อันดับ 1 คือเขตที่มีสัดส่วนเรื่องกำลังดำเนินการน้อยที่สุด "
                "ค่าเท่ากันได้อันดับเดียวกัน (1, 1, 3) ว่างสำหรับแถวกรุงเทพมหานครและเขตที่มีเรื่องน้อยกว่านั้น"
            ),
        ),
    ),
    districts_ranked=(
        int,
        col(
            "How many districts were ranked that month (the 'of 50' of 'rank 12 of 50')",
            "จำนวนเขตที่จัดอันดับ",
            thai_description="จำนวนเขตที่ได้รับการจัดอันดับในเดือนนั้น (เช่น อันดับ 12 จาก 50 เขต)",
        ),
    ),
)


class OpenTicketRow(Row):
    """One row per ticket not yet finished (tab ``open_tickets``): the ageing view."""

    ticket_id: str = col(
        "Traffy ticket id (key)",
        "เลขที่เรื่อง",
        thai_description="เลขที่เรื่องร้องเรียนของ Traffy (คีย์ของแถว)",
    )
    created_at: datetime = col(
        "When the ticket was reported (Asia/Bangkok)",
        "วันเวลาที่แจ้ง",
        thai_description="วันที่และเวลาที่แจ้งเรื่อง ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    month: date = col(
        "First day of the creation month (Asia/Bangkok)",
        "เดือนที่แจ้ง",
        thai_description="วันที่ 1 ของเดือนที่แจ้งเรื่อง ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )
    age_days: int = col(
        "Whole days from created_at to as_of",
        "อายุเรื่อง (วัน)",
        thai_description="จำนวนวันเต็มตั้งแต่วันเวลาที่แจ้งถึง as_of",
    )
    age_bucket: str = col(
        "Age band: 0-7, 8-30, 31-90 or over 90 days",
        "ช่วงอายุเรื่อง",
        thai_description="ช่วงอายุเรื่อง: 0-7, 8-30, 31-90 หรือ over 90 วัน",
    )
    age_bucket_order: int = col(
        "1-4, to sort the age bands from youngest",
        "ลำดับช่วงอายุ",
        thai_description="ลำดับ 1-4 สำหรับเรียงช่วงอายุเรื่องจากน้อยไปมาก",
    )
    state: str = col(
        "Current Traffy state, in Thai",
        "สถานะ",
        thai_description="สถานะปัจจุบันของเรื่องใน Traffy เป็นภาษาไทย",
    )
    state_group: str = col(
        "waiting, in_progress, forwarded, following or unknown",
        "กลุ่มสถานะ",
        thai_description="กลุ่มสถานะ: waiting, in_progress, forwarded, following หรือ unknown",
    )
    sections: str | None = col(
        "Sections (ฝ่าย) of the district office", "ฝ่ายที่รับผิดชอบ", thai_description="ฝ่ายของสำนักงานเขต"
    )
    types: str | None = col(
        "Complaint types, comma separated",
        "ประเภทปัญหา",
        thai_description="ประเภทปัญหาของเรื่อง คั่นด้วยเครื่องหมายจุลภาค (,)",
    )
    subdistrict: str | None = col("Sub-district (แขวง)", "แขวง", thai_description="แขวงของเรื่อง")
    description: str | None = col(
        "The citizen's complaint text", "รายละเอียด", thai_description="ข้อความร้องเรียนของประชาชน"
    )
    latlong: str | None = col(
        "'lat,lon' text for Looker Studio's Geo type",
        "พิกัด",
        thai_description="ข้อความ 'lat,lon' สำหรับชนิดข้อมูล Geo ของ Looker Studio",
    )
    photo_url: str | None = col(
        "Photo at reporting time (Looker Studio Image)",
        "รูปที่แจ้ง",
        thai_description="รูปภาพเมื่อแจ้งเรื่อง (ชนิดข้อมูล Image ของ Looker Studio)",
    )
    traffy_url: str = col(
        "The ticket's public Traffy page",
        "ลิงก์ Traffy",
        thai_description="หน้าเว็บสาธารณะของเรื่องใน Traffy",
    )
    as_of: datetime = col(
        "The sync time the ages are counted to (Asia/Bangkok)",
        "ข้อมูล ณ วันที่",
        thai_description="เวลาของการซิงก์ที่ใช้นับอายุเรื่อง ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )


class StatusHistoryRow(Row):
    """One row each time a sync sees a ticket in a new state (tab ``status_history``)."""

    ticket_id: str = col(
        "Traffy ticket id (key with observed_at)",
        "เลขที่เรื่อง",
        thai_description="เลขที่เรื่องร้องเรียนของ Traffy (คีย์ของแถว ร่วมกับ observed_at)",
    )
    state: str = col(
        "The state the sync saw, in Thai", "สถานะ", thai_description="สถานะที่การซิงก์พบ เป็นภาษาไทย"
    )
    state_group: str = col("Its state group", "กลุ่มสถานะ", thai_description="กลุ่มสถานะของสถานะนั้น")
    observed_at: datetime = col(
        "The sync that first saw this state (Asia/Bangkok)",
        "เวลาที่พบ",
        thai_description="เวลาของการซิงก์ที่พบสถานะนี้เป็นครั้งแรก ตามเวลากรุงเทพฯ (Asia/Bangkok)",
    )


KpiSnapshotRow: type[Row] = create_model(
    "KpiSnapshotRow",
    __base__=Row,
    __doc__="A month's ``kpi_monthly`` row as it stood at a sync (tab ``kpi_snapshots``); "
    "a row is added only when the month's numbers changed, so ``as_of`` is when they "
    "became what they are.",
    **_fields(KpiMonthlyRow),
)


class MetaRow(Row):
    """One row (tab ``meta``): the contract's version and the data's freshness."""

    schema_version: int = col(
        "Version of the tabs' contract (see CHANGELOG.md)",
        "รุ่นโครงสร้างข้อมูล",
        thai_description=("รุ่นของโครงสร้างตาราง เปลี่ยนเมื่อคอลัมน์ที่เผยแพร่แล้วถูกเปลี่ยน (ดู CHANGELOG.md)"),
    )
    last_sync: datetime = col(
        "When the last successful sync ran (Asia/Bangkok)",
        "ปรับปรุงข้อมูลล่าสุด",
        thai_description=(
            "เวลาที่ซิงก์ข้อมูลสำเร็จครั้งล่าสุด ตามเวลากรุงเทพฯ (Asia/Bangkok) ใช้แสดงความสดใหม่ของข้อมูล"
        ),
    )
    district: str = col(
        "District synced, without prefix", "เขต", thai_description="เขตที่ซิงก์ข้อมูล ไม่มีคำนำหน้า “เขต”"
    )
    since: date | None = col(
        "First creation date of the last sync",
        "แจ้งตั้งแต่วันที่",
        thai_description="วันที่แจ้งเรื่องวันแรกของการซิงก์ครั้งล่าสุด",
    )
    until: date | None = col(
        "Last creation date of the last sync",
        "แจ้งถึงวันที่",
        thai_description="วันที่แจ้งเรื่องวันสุดท้ายของการซิงก์ครั้งล่าสุด",
    )
    tickets: int = col(
        "Tickets written by the last sync",
        "จำนวนเรื่อง",
        thai_description="จำนวนเรื่องที่การซิงก์ครั้งล่าสุดบันทึก",
    )
    rejected: int = col(
        "Invalid records quarantined by the last sync",
        "รายการที่ไม่ผ่านการตรวจสอบ",
        thai_description="จำนวนรายการที่ไม่ผ่านการตรวจสอบและถูกแยกเก็บไว้ในการซิงก์ครั้งล่าสุด",
    )
    etl_version: str = col(
        "traffy-etl version that wrote the tabs",
        "รุ่นโปรแกรม",
        thai_description="รุ่นของ traffy-etl ที่เขียนแท็บเหล่านี้",
    )


class DictionaryRow(Row):
    """One row per column of every tab (tab ``dictionary``), written from ``schemas/``."""

    tab: str = col(
        "Tab id (key with column)", "ตาราง", thai_description="ชื่อแท็บ (คีย์ของแถว ร่วมกับ column)"
    )
    position: int = col(
        "1-based column position in the tab",
        "ลำดับคอลัมน์",
        thai_description="ลำดับของคอลัมน์ในแท็บ เริ่มนับจาก 1",
    )
    column: str = col(
        "Column header, stable ASCII snake_case",
        "คอลัมน์",
        thai_description="หัวคอลัมน์ เป็นชื่อ ASCII แบบ snake_case ที่ไม่เปลี่ยนแปลง",
    )
    kind: str = col(
        "text, int, float, bool, date or datetime",
        "ชนิดข้อมูล",
        thai_description="ชนิดข้อมูล: text, int, float, bool, date หรือ datetime",
    )
    is_key: bool = col(
        "True when the column is part of the row key",
        "เป็นคีย์",
        thai_description="True เมื่อคอลัมน์เป็นส่วนหนึ่งของคีย์ของแถว",
    )
    label_th: str = col(
        "Thai label for report headers",
        "ชื่อภาษาไทย",
        thai_description="ชื่อภาษาไทยสำหรับหัวตารางในรายงาน",
    )
    description: str = col(
        "What the column holds and how it is computed, in English",
        "คำอธิบาย",
        thai_description="ข้อมูลที่คอลัมน์เก็บและวิธีคำนวณ เป็นภาษาอังกฤษ",
    )
    schema_version: int = col(
        "Contract version the row describes",
        "รุ่นโครงสร้างข้อมูล",
        thai_description="รุ่นโครงสร้างข้อมูลที่แถวนี้อธิบาย",
    )
    description_th: str | None = col(
        "The same in Thai: what the column holds and, for the measures, the formula",
        "คำอธิบาย (ภาษาไทย)",
        thai_description="คำอธิบายเดียวกันเป็นภาษาไทย: ข้อมูลที่คอลัมน์เก็บ และสูตรคำนวณสำหรับตัวชี้วัด",
    )


TABS.update(
    {
        spec.name: spec
        for spec in (
            TabSpec("kpi_monthly_by_org", KpiMonthlyByOrgRow, ("month", "organization")),
            TabSpec("kpi_monthly_by_type", KpiMonthlyByTypeRow, ("month", "type")),
            TabSpec(
                "kpi_monthly_by_subdistrict", KpiMonthlyBySubdistrictRow, ("month", "subdistrict")
            ),
            TabSpec("open_tickets", OpenTicketRow, ("ticket_id",)),
            TabSpec("kpi_monthly_by_district", KpiMonthlyByDistrictRow, ("month", "district")),
            TabSpec("status_history", StatusHistoryRow, ("ticket_id", "observed_at")),
            TabSpec("kpi_snapshots", KpiSnapshotRow, ("month", "as_of")),
            TabSpec("meta", MetaRow, ("schema_version",)),
            TabSpec("dictionary", DictionaryRow, ("tab", "column")),
        )
    }
)
for _name in [name for name, spec in TABS.items() if not spec.for_looker]:
    TABS[_name] = TABS.pop(_name)  # bookkeeping tabs stay last: written after the data
