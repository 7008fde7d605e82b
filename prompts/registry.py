"""The template registry: immutable numbered versions and movable labels in a SQL database.

SQLite by default, PostgreSQL in production (any SQLAlchemy URL). Saving is optimistic: a draft names the
version it started from, and the save is a compare-and-swap on the template's ``latest_version``; when
someone saved first, the loser gets :class:`StaleVersionError` (HTTP 409), never a lost update. Every
write transaction starts with a write statement, so SQLite takes its write lock up front and concurrent
writers wait (busy timeout) instead of failing on a stale read snapshot.

The registry is a :class:`~prompts.refs.TemplateSource`: ``name`` resolves through the ``production``
label, ``name:staging`` through that label, ``name@3`` to version 3. Versions never change, so their
renderable templates are cached for good; label targets for ``label_ttl_s`` seconds (``label_cache``).
Diffs: :mod:`prompts.diff`; importing the shipped files: :mod:`prompts.importer`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import EllipsisType

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from prompts.db import LabelEventRow, LabelRow, TemplateRow, VersionRow, make_engine, utcnow
from prompts.diff import diff_versions
from prompts.label_cache import LabelCache
from prompts.migrate import upgrade
from prompts.models import (
    LabelMove,
    StaleLabelError,
    StaleVersionError,
    TemplateDiff,
    TemplateSummary,
    TemplateValidationError,
    TemplateVersion,
    VersionDraft,
    content_hash,
    content_of,
)
from prompts.refs import DEFAULT_LABEL, LABEL_PATTERN, TemplateNotFoundError, check_serves, parse_ref
from prompts.template import PromptTemplate, SamplingDefaults
from prompts.validation import validate_draft

logger = logging.getLogger(__name__)


class TemplateRegistry:
    """Versions and labels of prompt templates in a SQL database (thread-safe; sync API)."""

    def __init__(self, engine: Engine, label_ttl_s: float = 2.0):
        self.engine = engine
        self.label_ttl_s = label_ttl_s
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._cache: dict[tuple[str, int], PromptTemplate] = {}
        self._cache_lock = threading.Lock()
        self._labels = LabelCache(label_ttl_s)

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True, label_ttl_s: float = 2.0) -> TemplateRegistry:
        """Open the registry at ``url``; with ``migrate``, bring its schema to the newest revision first."""
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if migrate:
            upgrade(url)
        return cls(make_engine(url), label_ttl_s)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # Reading ---------------------------------------------------------------------------------------

    def list_templates(self) -> list[TemplateSummary]:
        """Every template with its newest version and labels, by name."""
        with self._sessions() as session:
            templates = session.scalars(select(TemplateRow).order_by(TemplateRow.name)).all()
            labels = self._labels_by_template(session)
            newest = {
                (row.template_id, row.version): row
                for row in session.scalars(
                    select(VersionRow).join(
                        TemplateRow,
                        (TemplateRow.id == VersionRow.template_id)
                        & (TemplateRow.latest_version == VersionRow.version),
                    )
                )
            }
            return [
                TemplateSummary(
                    name=t.name,
                    description=newest[(t.id, t.latest_version)].description,
                    latest_version=t.latest_version,
                    placements=list(newest[(t.id, t.latest_version)].placements),
                    labels=labels.get(t.id, {}),
                    updated_at=t.updated_at,
                )
                for t in templates
                if (t.id, t.latest_version) in newest
            ]

    def get_template(self, name: str) -> TemplateSummary:
        """One template's summary; :class:`TemplateNotFoundError` when there is none."""
        for summary in self.list_templates():
            if summary.name == name:
                return summary
        raise self._unknown(name)

    def list_versions(self, name: str) -> list[TemplateVersion]:
        """Every version of ``name``, oldest first."""
        with self._sessions() as session:
            template = self._template(session, name)
            labels = self._labels_by_template(session).get(template.id, {})
            rows = session.scalars(
                select(VersionRow).where(VersionRow.template_id == template.id).order_by(VersionRow.version)
            ).all()
            return [self._version(name, row, labels) for row in rows]

    def get_version(self, name: str, version: int) -> TemplateVersion:
        """Version ``version`` of ``name``."""
        with self._sessions() as session:
            template = self._template(session, name)
            row = self._version_row(session, template, version)
            labels = self._labels_by_template(session).get(template.id, {})
            return self._version(name, row, labels)

    def resolve_version(self, ref: str) -> TemplateVersion:
        """The version ``name`` / ``name@N`` / ``name:label`` names."""
        spec = parse_ref(ref)
        version = spec.version if spec.version is not None else self._label_target(spec.name, spec.label)
        return self.get_version(spec.name, version)

    def resolve(self, ref: str) -> PromptTemplate:
        """The renderable template ``ref`` names (the writer's :class:`~prompts.refs.TemplateSource`)."""
        spec = parse_ref(ref)
        version = (
            spec.version if spec.version is not None else self._cached_label_target(spec.name, spec.label)
        )
        with self._cache_lock:
            cached = self._cache.get((spec.name, version))
        if cached is not None:
            return cached
        template = self.get_version(spec.name, version).to_prompt()
        with self._cache_lock:
            self._cache[(spec.name, version)] = template
        return template

    def for_placement(self, placement: str, ref: str | None = None) -> PromptTemplate:
        """``ref`` (it must serve ``placement``), else the placement's own template at ``production``."""
        return check_serves(self.resolve(ref or placement), placement)

    def label_history(self, name: str) -> list[LabelMove]:
        """Every label move of ``name``, newest first."""
        with self._sessions() as session:
            template = self._template(session, name)
            events = session.scalars(
                select(LabelEventRow)
                .where(LabelEventRow.template_id == template.id)
                .order_by(LabelEventRow.id.desc())
            ).all()
            return [
                LabelMove(
                    name=name,
                    label=e.label,
                    version=e.to_version,
                    previous_version=e.from_version,
                    author=e.author,
                    moved_at=e.moved_at,
                )
                for e in events
            ]

    def diff(self, name: str, from_version: int, to_version: int) -> TemplateDiff:
        """Field-by-field unified diffs from one version to another."""
        return diff_versions(self.get_version(name, from_version), self.get_version(name, to_version))

    # Writing ---------------------------------------------------------------------------------------

    def create_version(self, name: str, draft: VersionDraft, author: str) -> TemplateVersion:
        """Save ``draft`` as the next version of ``name`` (creating the template when it is new).

        Raises :class:`TemplateValidationError` (the field at fault) and :class:`StaleVersionError`
        when ``draft.base_version`` is not the newest version any more.
        """
        base = draft.base_version or 0
        template = validate_draft(name, draft, base + 1)
        content = content_of(template)
        try:
            with self._write() as session:
                now = utcnow()
                swapped = session.execute(
                    update(TemplateRow)
                    .where(TemplateRow.name == name, TemplateRow.latest_version == base)
                    .values(latest_version=base + 1, updated_at=now)
                ).rowcount  # type: ignore[attr-defined]
                if not swapped:
                    current = session.scalar(
                        select(TemplateRow.latest_version).where(TemplateRow.name == name)
                    )
                    if current is not None or base:
                        raise _stale(name, base, current)
                    row = TemplateRow(name=name, latest_version=1, created_at=now, updated_at=now)
                    session.add(row)
                    session.flush()
                template_id = session.scalar(select(TemplateRow.id).where(TemplateRow.name == name))
                session.add(
                    VersionRow(
                        template_id=template_id,
                        version=base + 1,
                        author=author,
                        message=draft.message,
                        content_hash=content_hash(content),
                        created_at=now,
                        **content,
                    )
                )
        except IntegrityError:  # a concurrent first save of the same new template won
            raise _stale(name, base, self.latest_version(name)) from None
        logger.info("template version saved", extra={"template": f"{name}@{base + 1}", "author": author})
        return self.get_version(name, base + 1)

    def move_label(
        self,
        name: str,
        label: str,
        version: int,
        *,
        author: str,
        expected_version: int | EllipsisType | None = ...,
    ) -> LabelMove:
        """Point ``label`` at ``version`` (ship or roll back).

        With ``expected_version`` (None: the label must not exist yet), the move is refused with
        :class:`StaleLabelError` when the label points elsewhere now.
        """
        _check_label(label)
        with self._write() as session:
            now = utcnow()
            # A write first: it takes SQLite's write lock before anything is read.
            locked = session.execute(
                update(TemplateRow).where(TemplateRow.name == name).values(updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if not locked:
                raise self._unknown(name)
            template = self._template(session, name)
            self._version_row(session, template, version)
            row = session.get(LabelRow, (template.id, label))
            previous = row.version if row is not None else None
            if expected_version is not ... and previous != expected_version:
                raise StaleLabelError(
                    f"label {label!r} of {name!r} points at "
                    f"{'nothing' if previous is None else f'version {previous}'} now, not at "
                    f"{'nothing' if expected_version is None else f'version {expected_version}'}; "
                    "reload and try again",
                    previous,
                )
            if row is None:
                session.add(
                    LabelRow(
                        template_id=template.id,
                        label=label,
                        version=version,
                        updated_at=now,
                        updated_by=author,
                    )
                )
            else:
                row.version, row.updated_at, row.updated_by = version, now, author
            session.add(
                LabelEventRow(
                    template_id=template.id,
                    label=label,
                    from_version=previous,
                    to_version=version,
                    author=author,
                    moved_at=now,
                )
            )
        self._labels.moved((name, label))
        logger.info("label moved", extra={"template": name, "label": label, "to": version, "from": previous})
        return LabelMove(
            name=name, label=label, version=version, previous_version=previous, author=author, moved_at=now
        )

    # Helpers ---------------------------------------------------------------------------------------

    def _template(self, session: Session, name: str) -> TemplateRow:
        row = session.scalar(select(TemplateRow).where(TemplateRow.name == name))
        if row is None:
            raise self._unknown(name)
        return row

    @staticmethod
    def _version_row(session: Session, template: TemplateRow, version: int) -> VersionRow:
        row = session.scalar(
            select(VersionRow).where(VersionRow.template_id == template.id, VersionRow.version == version)
        )
        if row is None:
            raise TemplateNotFoundError(
                f"template {template.name!r} has no version {version}; newest is {template.latest_version}"
            )
        return row

    def _unknown(self, name: str) -> TemplateNotFoundError:
        with self._sessions() as session:
            known = session.scalars(select(TemplateRow.name).order_by(TemplateRow.name)).all()
        return TemplateNotFoundError(f"unknown template {name!r}; known: {list(known)}")

    def latest_version(self, name: str) -> int | None:
        """The newest version number of ``name`` (None: no such template)."""
        with self._sessions() as session:
            return session.scalar(select(TemplateRow.latest_version).where(TemplateRow.name == name))

    def has_content(self, name: str, digest: str) -> bool:
        """True when some version of ``name`` has the content hash ``digest``."""
        with self._sessions() as session:
            return bool(
                session.scalar(
                    select(func.count())
                    .select_from(VersionRow)
                    .join(TemplateRow, TemplateRow.id == VersionRow.template_id)
                    .where(TemplateRow.name == name, VersionRow.content_hash == digest)
                )
            )

    def _cached_label_target(self, name: str, label: str | None) -> int:
        key = (name, label or DEFAULT_LABEL)
        return self._labels.target(key, lambda: self._label_target(*key))

    def _label_target(self, name: str, label: str | None) -> int:
        label = label or DEFAULT_LABEL
        with self._sessions() as session:
            template = self._template(session, name)
            row = session.get(LabelRow, (template.id, label))
            if row is None:
                labels = self._labels_by_template(session).get(template.id, {})
                raise TemplateNotFoundError(
                    f"template {name!r} has no label {label!r}; its labels: {labels or 'none'} "
                    f"(name a version as {name}@{template.latest_version})"
                )
            return row.version

    @staticmethod
    def _labels_by_template(session: Session) -> dict[int, dict[str, int]]:
        labels: dict[int, dict[str, int]] = {}
        for row in session.scalars(select(LabelRow).order_by(LabelRow.label)):
            labels.setdefault(row.template_id, {})[row.label] = row.version
        return labels

    @staticmethod
    def _version(name: str, row: VersionRow, labels: dict[str, int]) -> TemplateVersion:
        return TemplateVersion(
            name=name,
            version=row.version,
            description=row.description,
            placements=list(row.placements),
            variables=list(row.variables),
            system=row.system,
            user=row.user,
            sampling=SamplingDefaults.model_validate(row.sampling or {}),
            author=row.author,
            message=row.message,
            created_at=row.created_at,
            labels=sorted(label for label, target in labels.items() if target == row.version),
        )


def _stale(name: str, base: int, current: int | None) -> StaleVersionError:
    if current is None:
        return StaleVersionError(
            f"template {name!r} does not exist; save with base_version null to create it", None
        )
    if base == 0:
        return StaleVersionError(
            f"template {name!r} already exists (newest version {current}); start from it", current
        )
    return StaleVersionError(
        f"version {base} of {name!r} is no longer the newest: version {current} was saved meanwhile; "
        "reload it, reapply your edit and save again",
        current,
    )


def _check_label(label: str) -> None:
    if not re.match(LABEL_PATTERN, label):
        raise TemplateValidationError(
            f"label {label!r} must be lowercase letters, digits, '-' or '_' (e.g. production, staging)",
            "label",
            "invalid_label",
        )
