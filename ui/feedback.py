"""👍 / 👎 on answers, with an optional reason, kept in SQLite beside the index.

    <index_dir>/feedback.sqlite   table feedback(id, created, rating, reason, question, answer,
                                  citations (JSON), user, turn)

The chat remembers the last ``MAX_REMEMBERED`` answers it gave (``AnswerMemory``, keyed by
the answer's turn token), so a rating stores the question, answer and citations exactly as
they were answered. An answer the server no longer remembers (a conversation reopened after
a restart) is stored with the question and plain-text answer the page sends. Admins see the
latest in the 知识库 tab; ``policyqa feedback export`` writes them all as JSON lines.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from index.errors import PolicyQAError
from qa.answer_json import answer_to_json
from qa.types import Answer

FILE_NAME = "feedback.sqlite"
RATINGS = ("up", "down")
# Answers remembered for rating: a few hours of a busy chat, ≈ 2 KB each.
MAX_REMEMBERED = 2000
# Longest reason, question and answer kept (characters); longer ones are cut.
MAX_REASON_CHARS = 500
MAX_TEXT_CHARS = 5000
TURN = re.compile(r"^[0-9a-f]{1,32}$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    reason TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    user TEXT NOT NULL DEFAULT '',
    turn TEXT NOT NULL DEFAULT ''
)
"""


class FeedbackError(PolicyQAError):
    """A rating that cannot be stored as sent."""


@dataclass(frozen=True)
class Feedback:
    """One rating of one answer."""

    id: int
    created: str  # local time, ISO 8601
    rating: str  # "up" or "down"
    reason: str
    question: str
    answer: str  # the answer's text with its [n] markers
    citations: list[dict]  # as in answer_to_json: marker, source, title, date, text, start, end
    user: str  # the logged-in user, "" without login
    turn: str  # the answer's token on the page


class AnswerMemory:
    """The chat's recent answers by turn token (bounded, thread-safe), for rating them later."""

    def __init__(self, size: int = MAX_REMEMBERED) -> None:
        self.size = size
        self._answers: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, turn: str, answer: Answer) -> None:
        """Keep what a rating of this answer stores."""
        data = answer_to_json(answer)
        kept = {"question": data["question"], "answer": data["answer"], "citations": data["citations"]}
        with self._lock:
            self._answers[turn] = kept
            self._answers.move_to_end(turn)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def recall(self, turn: str) -> dict | None:
        """The remembered question, answer and citations of a turn, or None."""
        with self._lock:
            return self._answers.get(turn)


def clean_text(value: object, limit: int) -> str:
    """Text from the page made safe to store: a string, no control characters, at most ``limit`` characters."""
    if not isinstance(value, str):
        return ""
    kept = "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return kept.strip()[:limit]


class FeedbackStore:
    """The feedback table of one index folder."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / FILE_NAME
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute(SCHEMA)
        return connection

    def add(
        self,
        rating: str,
        question: str,
        answer: str,
        citations: list[dict] | None = None,
        reason: str = "",
        user: str = "",
        turn: str = "",
    ) -> int:
        """Store a rating; returns its id.

        Raises:
            FeedbackError: the rating is not "up" or "down", or there is no answer to rate.
        """
        if rating not in RATINGS:
            raise FeedbackError("评价只能是“有帮助”或“没有帮助”。")
        question, answer = clean_text(question, MAX_TEXT_CHARS), clean_text(answer, MAX_TEXT_CHARS)
        if not answer:
            raise FeedbackError("找不到要评价的回答，请刷新页面后再试。")
        row = (
            time.strftime("%Y-%m-%dT%H:%M:%S"),
            rating,
            clean_text(reason, MAX_REASON_CHARS),
            question,
            answer,
            json.dumps(citations or [], ensure_ascii=False),
            clean_text(user, 200),
            turn if TURN.match(turn or "") else "",
        )
        with self._lock, self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO feedback (created, rating, reason, question, answer, citations, user, turn)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            if cursor.lastrowid is None:  # sqlite3 sets it after every INSERT
                raise sqlite3.DatabaseError("the rating was stored without a row id")
            return cursor.lastrowid

    def set_reason(self, feedback_id: int, reason: str, turn: str) -> bool:
        """Add the reason to a rating given moments ago (the turn must match); True if one changed."""
        with self._lock, self._connect() as connection:
            cursor = connection.execute(
                "UPDATE feedback SET reason = ? WHERE id = ? AND turn = ?",
                (clean_text(reason, MAX_REASON_CHARS), int(feedback_id), turn),
            )
            return cursor.rowcount == 1

    def recent(self, limit: int = 50) -> list[Feedback]:
        """The latest ratings, newest first."""
        return list(self._select("ORDER BY id DESC LIMIT ?", (limit,)))

    def counts(self) -> dict[str, int]:
        """How many ratings of each kind: {"up": n, "down": m}."""
        if not self.path.exists():
            return dict.fromkeys(RATINGS, 0)
        with self._lock, self._connect() as connection:
            found = dict(connection.execute("SELECT rating, COUNT(*) FROM feedback GROUP BY rating").fetchall())
        return {rating: int(found.get(rating, 0)) for rating in RATINGS}

    def export_jsonl(self, out: TextIO) -> int:
        """Write every rating, oldest first, as one JSON object per line; returns how many."""
        count = 0
        for record in self._select("ORDER BY id ASC", ()):
            out.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
            count += 1
        return count

    def _select(self, tail: str, parameters: tuple) -> Iterator[Feedback]:
        if not self.path.exists():
            return
        query = "SELECT id, created, rating, reason, question, answer, citations, user, turn FROM feedback " + tail
        with self._lock, self._connect() as connection:
            rows = connection.execute(query, parameters).fetchall()
        for feedback_id, created, rating, reason, question, answer, citations, user, turn in rows:
            yield Feedback(feedback_id, created, rating, reason, question, answer, json.loads(citations), user, turn)


def record_feedback(store: FeedbackStore, memory: AnswerMemory, data: object, user: str = "") -> dict:
    """Store what the page sent for a 👍 / 👎 click, or the reason added afterwards.

    ``data`` is {"turn", "rating", "question", "answer"} for a rating (question and answer are
    used only when the server no longer remembers the turn), or {"turn", "id", "reason"} for a
    reason. Returns {"id", "message"} for the page; never raises for bad input.
    """
    if not isinstance(data, dict):
        return {"id": None, "message": "没有收到评价内容。"}
    given_turn = data.get("turn")
    turn = given_turn if isinstance(given_turn, str) else ""
    try:
        if data.get("id") is not None:
            changed = store.set_reason(int(data["id"]), str(data.get("reason", "")), turn)
            return {"id": data["id"], "message": "已记录原因，谢谢！" if changed else "找不到这条评价。"}
        known = memory.recall(turn) if TURN.match(turn) else None
        source = known or {
            "question": data.get("question"),
            "answer": data.get("answer"),
            "citations": [],
        }
        feedback_id = store.add(
            str(data.get("rating")),
            source["question"],
            source["answer"],
            source["citations"],
            reason=str(data.get("reason", "")),
            user=user,
            turn=turn,
        )
    except FeedbackError as exc:
        return {"id": None, "message": str(exc)}
    except (TypeError, ValueError, sqlite3.Error):
        return {"id": None, "message": "评价没有保存成功，请稍后再试。"}
    return {"id": feedback_id, "message": "谢谢反馈！可以补充原因（可选）。"}
