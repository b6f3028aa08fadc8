"""消息: one outbox row as a person reads it, in plain text and in Markdown, with the people it
mentions; the channels only wrap it in their own request format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from maintenance.notifications import Notification, event_body, event_type
from propwatch.site import SiteFile

TOPIC_ZH = {
    "work_order.created": "新工单",
    "work_order.transition": "工单进展",
    "work_order.reassigned": "工单改派",
    "work_order.escalated": "工单升级",
    "work_order.overdue": "工单超时",
    "work_order.unsatisfied": "回访不满意",
    "work_order.changed": "工单修改",
    "work_order.commented": "工单跟进",
    "work_order.attachment_added": "工单附件",
    "work_order.attachment_deleted": "附件删除",
    "alarm.raised": "设备告警",
    "alarm.cleared": "告警恢复",
    "alarm.acknowledged": "告警已确认",
    "alarm.chattering": "告警频繁",
    "asset.warranty_expiring": "保修到期",
    "statutory.due_soon": "法定检验提醒",
    "statutory.overdue": "法定检验超期",
    "contract.expiring": "维保合同到期",
    "contractor.licence_expiring": "维保单位资质到期",
}


@dataclass(frozen=True)
class Contact:
    """A person from the site file, with what the channels need to reach them."""

    id: str
    name: str
    phone: str
    email: str


@dataclass(frozen=True)
class Outgoing:
    notification_id: int
    topic: str
    title: str
    text: str
    markdown: str
    people: tuple[Contact, ...]
    duty_room: bool
    event_type: str
    body: str
    """The outbox row as integrations receive it (the webhook JSON)."""
    at: datetime

    @property
    def mobiles(self) -> list[str]:
        return [p.phone for p in self.people if p.phone]

    @property
    def emails(self) -> list[str]:
        return [p.email for p in self.people if p.email]


def compose(
    n: Notification,
    spec: SiteFile,
    people: list[str],
    *,
    duty_room: bool = False,
    zone: str | None = None,
) -> Outgoing:
    """The zh-CN message for an outbox row sent to `people` (ids from the site file)."""
    by_id = {p.id: p for p in spec.people}
    contacts = tuple(
        Contact(pid, by_id[pid].name, by_id[pid].phone, by_id[pid].email)
        for pid in people
        if pid in by_id
    )
    title = f"【{TOPIC_ZH.get(n.topic, n.topic)}】{spec.site.name}"
    facts = []
    zone_name = next((z.name for z in spec.zones if z.id == zone), None)
    if zone_name:
        facts.append(f"片区：{zone_name}")
    facts.append(f"时间：{n.created_at.astimezone(spec.site.tz):%Y-%m-%d %H:%M}")
    if contacts:
        facts.append("通知：" + "、".join(c.name for c in contacts))
    text = "\n".join([title, n.message, "；".join(facts)])
    markdown = "\n".join(
        [f"### {title}", "", n.message, "", *(f"> {fact}  " for fact in facts)]
    ).rstrip()
    return Outgoing(
        notification_id=n.id,
        topic=n.topic,
        title=title,
        text=text,
        markdown=markdown,
        people=contacts,
        duty_room=duty_room,
        event_type=event_type(n.topic),
        body=event_body(n),
        at=n.created_at,
    )
