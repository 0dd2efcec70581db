"""What each cross-record check and fixer looks up beyond its own row, found by Spark joins.

The polars rules read their context through ``RuleContext``: ``ctx.frame("Account")`` and the like, and
two base-wide tables kept in ``ctx.cache`` (the known domains, the most used spelling of each name).
Every lookup they make is by a key of the judged row (an account id, an e-mail domain, an opportunity
id, a name folded to lower case). So on Spark each such function has a *need*: Spark joins find, for
every judged row, the context records (or cache entries) its keys reach, and attaches them to the row;
each partition then rebuilds a ``RuleContext`` from what its rows carry and runs the polars function
unchanged. A key's group is always complete (every record with that key), so the lookups answer as they
would over the whole base; a frame that exists but holds none of the keys gets one deleted sentinel
record, so "is there any Owner at all" answers the same too.

Small frames are shipped whole to every partition instead (``Whole``: the owners, a few thousand users
even in the largest org). Functions with no entry here read nothing but their rows (and the run's time)
and run on each partition as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.match.sources import source_frames
from crm_ops.rules import conditions, crosssource, library
from crm_ops.rules.chunks import ROW_LEVEL
from crm_ops.rules.model import Rule

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from crm_ops.spark.sessions import SparkFrames

RID, CID = "__rid", "__cid"
SENTINEL_ID = "\x00crm-ops-sentinel"


@dataclass(frozen=True)
class Link:
    """Context records of one (system, entity) reached by the judged rows: pairs (__rid, __cid)."""

    system: str
    entity: str
    pairs: DataFrame
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Whole:
    """A small context frame shipped whole to every partition."""

    system: str
    entity: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class CacheLink:
    """Entries of a base-wide table the function keeps in ``ctx.cache[key]``, for the rows' keys:
    (__rid, __slot, __ck, __cv); ``build`` turns a partition's entries into the cached value."""

    key: Any
    entries: DataFrame
    build: Callable[[pl.DataFrame], Any]


Need = Link | Whole | CacheLink


@dataclass
class NeedArgs:
    """What a need is computed from: the judged rows (live, every column), all frames, the rule."""

    rows: DataFrame
    frames: SparkFrames
    system: str
    params: Mapping[str, Any]
    shared: dict[Any, Any]  # base-wide tables computed once per run (the known domains...)

    def other(self) -> str | None:
        return next((s for s in self.frames if s != self.system), None)

    def frame(self, entity: str, system: str | None = None) -> DataFrame | None:
        return self.frames.get(system or self.system, {}).get(entity)


Provider = Callable[[NeedArgs], list[Need]]


def _by_key(
    a: NeedArgs, entity: str, row_col: str, ctx_col: str, columns: tuple[str, ...], system: str | None = None
) -> list[Need]:
    from pyspark.sql import functions as F

    target = system or a.system
    ctx = a.frame(entity, target)
    if ctx is None or row_col not in a.rows.columns or ctx_col not in ctx.columns:
        return []
    pairs = (
        a.rows.select(F.col("id").alias(RID), F.col(row_col).alias("__k"))
        .where(F.col("__k").isNotNull())
        .join(ctx.select(F.col(ctx_col).alias("__k"), F.col("id").alias(CID)), "__k")
        .select(RID, CID)
    )
    return [Link(target, entity, pairs, columns)]


def by_key(
    entity: str, row_col: str | Callable[[Mapping[str, Any]], str], ctx_col: str, columns: tuple[str, ...]
) -> Provider:
    """Records of ``entity`` (this system) whose ``ctx_col`` is the row's ``row_col``."""

    def provide(a: NeedArgs) -> list[Need]:
        column = row_col(a.params) if callable(row_col) else row_col
        return _by_key(a, entity, column, ctx_col, columns)

    return provide


def _keyed(frame: DataFrame, key: Callable[[list[str]], pl.Expr], name: str = "__k") -> DataFrame:
    """(id, key) with the key computed by a polars expression on each partition (exact polars semantics)."""
    from crm_ops.spark.frames import map_polars

    columns = frame.columns
    return map_polars(
        frame,
        lambda f: f.select(pl.col("id"), key(columns).alias(name)).filter(pl.col(name).is_not_null()),
        {"id": pl.String(), name: pl.String()},
    )


def _email_domain(columns: list[str]) -> pl.Expr:
    return library.email_domain_expr("email") if "email" in columns else pl.lit(None, pl.String)


def _account_domain(columns: list[str]) -> pl.Expr:
    parts = [library.bare_domain_expr(pl.col(c)) for c in ("domain", "website") if c in columns]
    return pl.coalesce(parts) if parts else pl.lit(None, pl.String)


def _company_domain(columns: list[str]) -> pl.Expr:
    domain = _account_domain(columns)
    return pl.when(~domain.is_in(list(library.FREEMAIL))).then(domain)


ACCOUNT_DOMAIN_COLS = ("id", "is_deleted", "domain", "website")


# ------------------------------------------------------------------------------------------ checks


def _lifecycle(a: NeedArgs) -> list[Need]:
    if "salesforce" not in a.frames:
        return []
    return _by_key(
        a, "Lead", "linked_lead_id", "id", ("id", "is_deleted", "is_converted", "status"), "salesforce"
    )


CHECK_NEEDS: dict[Callable[..., Any], Provider] = {
    library.account_exists: by_key(
        "Account", lambda p: str(p.get("field", "account_id")), "id", ("id", "is_deleted")
    ),
    library.email_matches_account_domain: by_key("Account", "account_id", "id", ACCOUNT_DOMAIN_COLS),
    library.owner_active: lambda a: [Whole(a.system, "Owner", ("id", "is_active", "is_deleted"))],
    library.has_contact_role: by_key(
        "ContactRole", "id", "opportunity_id", ("id", "opportunity_id", "is_deleted")
    ),
    library.lifecycle_matches_lead: _lifecycle,
}


# ------------------------------------------------------------------------------------------ fixers


def _known_domains_table(a: NeedArgs) -> DataFrame:
    """Every domain the base writes from or lives at (``library._known_domains``), distinct."""
    from pyspark.sql import functions as F

    from crm_ops.spark.frames import union_all

    cached = a.shared.get("known_domains")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    parts = []
    for system, entities in a.frames.items():
        for entity, frame in entities.items():
            if "email" in frame.columns and entity != "Owner":
                parts.append(_keyed(frame.select("id", "email"), _email_domain, "d").select("d"))
        accounts = entities.get("Account")
        if accounts is not None:
            live = accounts.where(~F.coalesce(F.col("is_deleted"), F.lit(False)))
            keep = [c for c in ACCOUNT_DOMAIN_COLS if c in accounts.columns and c != "is_deleted"]
            # free-mail domains left out on the partitions (thousands of them: as Spark literals, each
            # one a call to the JVM, and a plan as long)
            parts.append(_keyed(live.select(*keep), _company_domain, "d").select("d"))
        del system
    table = union_all(parts).distinct().persist()
    a.shared["known_domains"] = table
    a.shared.setdefault("__persisted", []).append(table)
    return table


def _suffixes(values: pl.DataFrame, column: str) -> pl.DataFrame:
    """(rid, suffix) for each value without an @: the suffixes ``library._domain_suffixes`` looks up."""
    rids, found = [], []
    for rid, value in values.select("id", pl.col(column).cast(pl.String)).iter_rows():
        if value and "@" not in value:
            text = re.sub(r"\s+", "", value.strip().lower())
            for i in range(1, len(text)):
                rids.append(rid)
                found.append(text[i:])
    return pl.DataFrame({RID: rids, "__ck": found}, schema={RID: pl.String(), "__ck": pl.String()})


def _build_known(entries: pl.DataFrame) -> frozenset[str]:
    return frozenset(entries["__ck"].drop_nulls().to_list())


def _email_repair(a: NeedArgs) -> list[Need]:
    from pyspark.sql import functions as F

    from crm_ops.spark.frames import map_polars

    out = _by_key(a, "Account", "account_id", "id", ACCOUNT_DOMAIN_COLS)
    column = str(a.params["field"])
    if column not in a.rows.columns:
        return out
    wanted = map_polars(
        a.rows.select("id", column),
        lambda f: _suffixes(f, column),
        {RID: pl.String(), "__ck": pl.String()},
    )
    known = _known_domains_table(a).withColumnRenamed("d", "__ck")
    entries = wanted.join(known, "__ck").select(
        RID, F.lit("").alias("__slot"), "__ck", F.lit(None).cast("string").alias("__cv")
    )
    return [*out, CacheLink("known_domains", entries, _build_known)]


def _domain_from_contacts(a: NeedArgs) -> list[Need]:
    out = _by_key(a, "Contact", "id", "account_id", ("id", "is_deleted", "account_id", "email"))
    other = a.other()
    if other is not None:
        cols = ("id", "is_deleted", "domain", "website", "linked_id")
        out += _by_key(a, "Account", "linked_id", "id", cols, other)
        out += _by_key(a, "Account", "id", "linked_id", cols, other)
    return out


def _account_by_email_domain(a: NeedArgs) -> list[Need]:
    """Accounts at the row's e-mail domain, the contacts writing from it, and those contacts' accounts."""
    from pyspark.sql import functions as F

    accounts, contacts = a.frame("Account"), a.frame("Contact")
    if accounts is None or "email" not in a.rows.columns:
        return []
    rows = _keyed(a.rows.select("id", "email"), _email_domain).select(F.col("id").alias(RID), "__k")
    keep = [c for c in ACCOUNT_DOMAIN_COLS if c in accounts.columns and c != "is_deleted"]
    at_domain = _keyed(accounts.select(*keep), _account_domain).select(F.col("id").alias(CID), "__k")
    out: list[Need] = [
        Link(a.system, "Account", rows.join(at_domain, "__k").select(RID, CID), ACCOUNT_DOMAIN_COLS)
    ]
    if contacts is not None and "email" in contacts.columns:
        writers = _keyed(contacts.select("id", "email"), _email_domain).select(F.col("id").alias(CID), "__k")
        peers = rows.join(writers, "__k").select(RID, CID)
        out.append(Link(a.system, "Contact", peers, ("id", "is_deleted", "account_id", "email")))
        their = peers.join(contacts.select(F.col("id").alias(CID), F.col("account_id").alias("__a")), CID)
        out.append(
            Link(
                a.system,
                "Account",
                their.where(F.col("__a").isNotNull()).select(RID, F.col("__a").alias(CID)),
                ACCOUNT_DOMAIN_COLS,
            )
        )
    return out


def _account_by_contact_role(a: NeedArgs) -> list[Need]:
    """The opportunity's contact roles, their contacts, and those contacts' accounts."""
    from pyspark.sql import functions as F

    roles, contacts = a.frame("ContactRole"), a.frame("Contact")
    if roles is None or contacts is None:
        return []
    role_pairs = a.rows.select(F.col("id").alias(RID)).join(
        roles.select(F.col("opportunity_id").alias(RID), F.col("id").alias(CID), "contact_id"), RID
    )
    people = role_pairs.where(F.col("contact_id").isNotNull()).select(RID, F.col("contact_id").alias(CID))
    accounts = people.join(contacts.select(F.col("id").alias(CID), F.col("account_id").alias("__a")), CID)
    return [
        Link(
            a.system,
            "ContactRole",
            role_pairs.select(RID, CID),
            ("id", "is_deleted", "opportunity_id", "contact_id"),
        ),
        Link(a.system, "Contact", people, ("id", "is_deleted", "account_id")),
        Link(
            a.system,
            "Account",
            accounts.where(F.col("__a").isNotNull()).select(RID, F.col("__a").alias(CID)),
            ("id", "is_deleted"),
        ),
    ]


def _casing_tables(a: NeedArgs, columns: tuple[str, ...]) -> tuple[DataFrame, DataFrame]:
    """``library._casing_reference`` on Spark: the most used well-written spelling of each name and word
    (k = the polars lower case; ties to the smallest spelling), over every entity but Owner, both CRMs."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from crm_ops.spark.frames import map_polars, union_all

    key = ("casing", columns)
    cached = a.shared.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    values = []
    for entities in a.frames.values():
        for entity, frame in entities.items():
            for column in columns:
                if column in frame.columns and entity != "Owner":
                    values.append(frame.select(F.col(column).cast("string").alias("v")))
    if not values:
        empty = a.rows.sparkSession.createDataFrame([], "k string, v string")
        a.shared[key] = (empty, empty)
        return empty, empty
    # a few columns of every entity: as many partitions as a shuffle has (a scan's, one or more per
    # file, would make each of the Python passes below a task per file)
    shuffle = int(a.rows.sparkSession.conf.get("spark.sql.shuffle.partitions") or 1)
    union = union_all(values).coalesce(max(1, shuffle))

    def lowered(f: pl.DataFrame) -> pl.DataFrame:
        return f.with_columns(k=pl.col("v").str.to_lowercase())

    def good(f: pl.DataFrame) -> pl.DataFrame:
        f = f.filter(pl.col("v").is_not_null())
        return lowered(f.filter(library.name_clean(f, None, {"field": "v"})))  # type: ignore[arg-type]

    def words(f: pl.DataFrame) -> pl.DataFrame:
        return lowered(f.select(pl.col("v").str.split(" ").alias("v")).explode("v").filter(pl.col("v") != ""))

    def best(frame: DataFrame) -> DataFrame:
        counted = frame.groupBy("k", "v").count()
        order = Window.partitionBy("k").orderBy(F.col("count").desc(), F.col("v").asc())
        return counted.withColumn("__n", F.row_number().over(order)).where(F.col("__n") == 1).select("k", "v")

    # each value and its lower case (k), computed in the pass that finds them
    keyed = {"v": pl.String(), "k": pl.String()}
    clean = map_polars(union, good, keyed).persist()  # read by both tables
    tables = (best(clean).persist(), best(map_polars(clean.select("v"), words, keyed)).persist())
    a.shared[key] = tables
    a.shared.setdefault("__persisted", []).extend([clean, *tables])
    return tables


def _lookups(values: pl.DataFrame, column: str) -> pl.DataFrame:
    """(rid, slot, key) for what ``library.name_fix`` looks up: the cleaned name, then each word."""
    rids, slots, keys = [], [], []
    for rid, value in values.select("id", pl.col(column).cast(pl.String)).iter_rows():
        cleaned = " ".join((value or "").split())
        if not cleaned:
            continue
        rids.append(rid)
        slots.append("")
        keys.append(cleaned.lower())
        for w in cleaned.split():
            rids.append(rid)
            slots.append("words")
            keys.append(w.lower())
    return pl.DataFrame(
        {RID: rids, "__slot": slots, "__ck": keys},
        schema={RID: pl.String(), "__slot": pl.String(), "__ck": pl.String()},
    )


def _build_casing(entries: pl.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    words: dict[str, Any] = {}
    for slot, k, v in entries.select("__slot", "__ck", "__cv").iter_rows():
        (words if slot == "words" else out)[k] = v
    out["\0words"] = words
    return out


def _name_fix(a: NeedArgs) -> list[Need]:
    from pyspark.sql import functions as F

    from crm_ops.spark.frames import map_polars

    column = str(a.params["field"])
    columns = tuple(a.params.get("reference_fields", [column]))
    if column not in a.rows.columns:
        return []
    whole, words = _casing_tables(a, columns)
    wanted = map_polars(
        a.rows.select("id", column),
        lambda f: _lookups(f, column),
        {RID: pl.String(), "__slot": pl.String(), "__ck": pl.String()},
    )
    found_whole = wanted.where(F.col("__slot") == "").join(
        whole.select(F.col("k").alias("__ck"), F.col("v").alias("__cv")), "__ck"
    )
    found_words = wanted.where(F.col("__slot") == "words").join(
        words.select(F.col("k").alias("__ck"), F.col("v").alias("__cv")), "__ck"
    )
    entries = found_whole.unionByName(found_words).select(RID, "__slot", "__ck", "__cv")
    return [CacheLink(("casing", columns), entries, _build_casing)]


FIX_NEEDS: dict[Callable[..., Any], Provider] = {
    library.email_repair: _email_repair,
    library.email_to_account_domain: by_key("Account", "account_id", "id", ACCOUNT_DOMAIN_COLS),
    library.domain_from_contacts: _domain_from_contacts,
    library.account_by_email_domain: _account_by_email_domain,
    library.account_by_contact_role: _account_by_contact_role,
    library.name_fix: _name_fix,
}

# Python rules of a user's own that read only their rows may be declared so (``row_level(fn)``, kept by
# ``crm_ops.rules.chunks``: a large table is checked a chunk at a time by them too) and run on the
# partitions; any other check or fixer outside the library runs on the driver, over the whole frames
# collected there (correct, but bounded by the driver's memory).


def passes_everything(fn: Callable[..., Any] | None, frames: Mapping[str, Any], system: str) -> bool:
    """Whether a check of ``crm_ops.rules.crosssource`` passes every record of a CRM in this run, so
    that there is nothing to run: on polars each of them compares a CRM's records with the sources'
    subscriptions and passes every record when no source holds any (see that module)."""
    if fn is None or getattr(fn, "__module__", "") != crosssource.__name__ or system not in crosssource.CRMS:
        return False
    return not source_frames(frames, "Subscription")


def rule_kind(rule: Rule, *, counting: bool = True) -> str:
    """How the Spark engine runs a rule's check: ``kind_of`` its check, but on the driver when its
    condition (``when:``, ``check: {holds: ...}``) reads other records (a parent's value, an aggregate
    of children) or, when it ``counting`` findings, its tolerance counts an entity's rows: both need
    whole frames, not a partition's rows."""
    if conditions.reads_others(rule) or (counting and rule.tolerance is not None):
        return "driver"
    if isinstance(rule.check, conditions.ConditionCheck):
        return "row"
    return kind_of(rule.check, CHECK_NEEDS)


def kind_of(fn: Callable[..., Any], needs: Mapping[Callable[..., Any], Provider]) -> str:
    """How the Spark engine runs a check or fixer: ``row``, ``needs``, ``unique`` or ``driver``."""
    generic = library.GENERIC_KINDS.get(fn)
    if generic is not None:
        return "unique" if generic[0] == "unique" else "row"
    if fn in needs:
        return "needs"
    module = getattr(fn, "__module__", "")
    if fn in ROW_LEVEL or module.startswith(f"{library.__name__}.") or module == "crm_ops.rules.loader":
        return "row"
    return "driver"
