"""Bulk API 2.0: query jobs (run when created, results as CSV chunks with ``Sforce-Locator``) and
ingest jobs (insert, update, delete; run at ``UploadComplete``; successful, failed and unprocessed
results as CSV)."""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

from crm_ops.sandbox import soql
from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.realsaves import CHUNK
from crm_ops.sandbox.salesforce.common import (
    BULK_DATETIME,
    CSV,
    JSON,
    MAX_JOBS,
    Job,
    SalesforceState,
    error,
    json_object,
)
from crm_ops.sandbox.salesforce.query import execute
from crm_ops.sandbox.sfwrite import SaveError, Writer


class BulkHandlers(SalesforceState):
    """Bulk API 2.0 jobs."""

    def _new_job(self, version: str, **info: Any) -> tuple[str, Job]:
        now = self.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        job_id = f"7508d{next(self._ids):010d}AAA"
        job = Job(
            {
                "id": job_id,
                "createdById": self.user_id,
                "createdDate": now,
                "systemModstamp": now,
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(version.lstrip("v")),
                "lineEnding": "LF",
                "columnDelimiter": "COMMA",
                **info,
            }
        )
        with self._lock:
            self._jobs[job_id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        return job_id, job

    def create_query_job(self, request: Request, version: str) -> Response:
        """POST /jobs/query: run the query and hold its results for download."""
        body = json_object(request)
        if isinstance(body, Response):
            return body
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            return error(400, "INVALIDJOB", f"Invalid job operation: {operation}")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            return error(400, "INVALIDJOB", "query is required for a query job")
        try:
            q = soql.parse(text, self.objects)
        except soql.SoqlError as e:
            return error(400, e.error_code, e.message)
        obj = self.objects[q.object_name]
        if q.count is not None or any(
            (f := obj.field(n)) is not None and f.type == "address" for n in q.fields
        ):
            return error(
                400,
                "API_ERROR",
                "Aggregate Relationships and compound fields are not supported by Bulk API 2.0 query",
            )
        frame = execute(q, obj, self.store, self.now(), include_deleted=operation == "queryAll").select(
            list(q.fields)
        )
        _, job = self._new_job(version, operation=operation, object=obj.name, state="UploadComplete")
        job.frame = frame
        reply = dict(job.info)
        job.info.update(
            state="JobComplete", numberRecordsProcessed=frame.height, retries=0, totalProcessingTime=0
        )
        return Response.json(200, reply, JSON)

    def _job(self, job_id: str, kind: str) -> Job | Response:
        job = self._jobs.get(job_id)
        if job is None or (job.frame is None) != (kind == "ingest"):
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def get_query_job(self, request: Request, version: str, job_id: str) -> Response:
        """GET /jobs/query/{id}: the job's state."""
        job = self._job(job_id, "query")
        return job if isinstance(job, Response) else Response.json(200, job.info, JSON)

    def get_ingest_job(self, request: Request, version: str, job_id: str) -> Response:
        """GET /jobs/ingest/{id}: the job's state and counts."""
        job = self._job(job_id, "ingest")
        return job if isinstance(job, Response) else Response.json(200, job.info, JSON)

    def delete_job(self, request: Request, version: str, job_id: str) -> Response:
        """DELETE a job and its results."""
        with self._lock:
            found = self._jobs.pop(job_id, None)
        return Response(204) if found else error(404, "NOT_FOUND", "The requested resource does not exist")

    def query_job_results(self, request: Request, version: str, job_id: str) -> Response:
        """GET /jobs/query/{id}/results: a CSV chunk; ``Sforce-Locator`` names the next, or is ``null``."""
        job = self._job(job_id, "query")
        if isinstance(job, Response):
            return job
        assert job.frame is not None
        raw_max = request.arg("maxRecords")
        if raw_max is not None and (not raw_max.isdigit() or int(raw_max) < 1):
            return error(400, "INVALIDJOB", f"Invalid maxRecords: {raw_max}")
        size = int(raw_max) if raw_max else self.limits.bulk_default_max_records
        locator = request.arg("locator") or ""
        try:
            offset = int(base64.b64decode(locator).decode()) if locator else 0
        except ValueError:
            return error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        chunk = job.frame.slice(offset, size)
        end = offset + chunk.height
        nxt = base64.b64encode(str(end).encode()).decode() if end < job.frame.height else "null"
        body = chunk.write_csv(datetime_format=BULK_DATETIME, date_format="%Y-%m-%d", quote_style="always")
        return Response(
            200,
            body.encode(),
            {"Content-Type": CSV, "Sforce-Locator": nxt, "Sforce-NumberOfRecords": str(chunk.height)},
        )

    def create_ingest_job(self, request: Request, version: str) -> Response:
        """POST /jobs/ingest: open a job for insert, update or delete."""
        body = json_object(request)
        if isinstance(body, Response):
            return body
        obj = self._object(str(body.get("object", "")))
        if obj is None:
            return error(
                400, "INVALIDJOB", f"Entity '{body.get('object')}' is not supported by the Bulk API."
            )
        operation = body.get("operation")
        if operation not in ("insert", "update", "delete", "hardDelete"):
            return error(
                400,
                "INVALIDJOB",
                f"Operation {operation} is not supported by this sandbox's Bulk API 2.0 ingest",
            )
        if body.get("columnDelimiter", "COMMA") != "COMMA" or body.get("lineEnding", "LF") not in (
            "LF",
            "CRLF",
        ):
            return error(
                400, "INVALIDJOB", "Only COMMA delimited CSV with LF or CRLF line endings is supported"
            )
        job_id, job = self._new_job(
            version,
            operation=operation,
            object=obj.name,
            state="Open",
            externalIdFieldName=body.get("externalIdFieldName"),
            contentUrl=f"services/data/{version}/jobs/ingest/{{id}}/batches",
        )
        job.info["contentUrl"] = job.info["contentUrl"].replace("{id}", job_id)
        job.frame = None
        return Response.json(200, job.info, JSON)

    def upload_batch(self, request: Request, version: str, job_id: str) -> Response:
        """PUT /jobs/ingest/{id}/batches: the CSV data; 201."""
        job = self._job(job_id, "ingest")
        if isinstance(job, Response):
            return job
        if job.info["state"] != "Open":
            return error(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for data upload")
        job.upload.append(request.body)
        return Response(201)

    def patch_job(self, request: Request, version: str, job_id: str) -> Response:
        """PATCH a job's state: UploadComplete runs an ingest job; Aborted stops one."""
        job = self._jobs.get(job_id)
        if job is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        body = json_object(request)
        if isinstance(body, Response):
            return body
        state = body.get("state")
        if state == "Aborted":
            job.info["state"] = "Aborted"
        elif state == "UploadComplete" and job.frame is None and job.info["state"] == "Open":
            self._process_ingest(job)
        else:
            return error(400, "INVALIDJOBSTATE", f"Cannot change the state of job {job_id} to {state}")
        return Response.json(200, job.info, JSON)

    def _process_ingest(self, job: Job) -> None:
        obj = self.objects[job.info["object"]]
        writer = Writer(obj, self.store[obj.name], self.store.tables, self.user_id)
        try:
            text = b"".join(job.upload).decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text)))
        except (UnicodeDecodeError, csv.Error) as e:
            # Salesforce fails the whole job, and the job stays readable (state Failed, errorMessage)
            job.info.update(state="Failed", errorMessage=f"InvalidBatch : Failed to parse CSV: {e}")
            return
        job.columns = list(rows[0].keys()) if rows else []
        now = self.now()
        op = job.info["operation"]
        contended = self._contended(obj, writer, rows) if self.save_rules is not None else set()
        deleted: list[str] = []  # to the recycle bin, with what each delete reaches (``sfrecycle``)
        for index, row in enumerate(rows):
            # a Bulk job carries no duplicate rule header; its chunks run in parallel
            writer.guard = self._guard(
                None, str(job.info.get("apiVersion", "")), contended=index in contended
            )
            try:
                if op == "insert":
                    rid, created = writer.insert(dict(row), now, from_csv=True), "true"
                elif op == "update":
                    values = {k: v for k, v in row.items() if k != "Id"}
                    rid, created = writer.update(row.get("Id", ""), values, now, from_csv=True), "false"
                else:
                    rid, created = writer.delete(row.get("Id", ""), now), "false"
                    deleted.append(rid)
                job.successes.append({"sf__Id": rid, "sf__Created": created, **row})
            except SaveError as e:
                job.failures.append({"sf__Id": row.get("Id", ""), "sf__Error": e.as_bulk(), **row})
        self.recycle.deleted(obj, deleted, now)
        job.info.update(
            state="JobComplete",
            numberRecordsProcessed=len(rows),
            numberRecordsFailed=len(job.failures),
            retries=0,
            totalProcessingTime=0,
        )

    def _contended(self, obj: Any, writer: Writer, rows: list[dict[str, str]]) -> set[int]:
        """The rows whose parent (AccountId) another 200-row chunk of the job writes too: Salesforce runs a
        job's chunks in parallel, and each locks the parents of its records."""
        if obj.field("AccountId") is None:
            return set()
        parents: list[str | None] = []
        for row in rows:
            parent = row.get("AccountId") or None
            if parent is None:
                located = writer.locate(row.get("Id", ""))
                current = writer.table.row(located) if isinstance(located, int) else None
                parent = (current or {}).get("AccountId")
            parents.append(parent)
        chunks: dict[str, set[int]] = {}
        for index, parent in enumerate(parents):
            if parent:
                chunks.setdefault(parent, set()).add(index // CHUNK)
        return {i for i, parent in enumerate(parents) if parent and len(chunks[parent]) > 1}

    def ingest_results(self, request: Request, version: str, job_id: str, kind: str) -> Response:
        """GET successfulResults / failedResults / unprocessedrecords of an ingest job, as CSV."""
        job = self._job(job_id, "ingest")
        if isinstance(job, Response):
            return job
        kinds = {
            "successfulresults": (job.successes, ["sf__Id", "sf__Created"]),
            "failedresults": (job.failures, ["sf__Id", "sf__Error"]),
            "unprocessedrecords": (job.unprocessed, []),
        }
        if kind.lower() not in kinds:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        rows, head = kinds[kind.lower()]
        out = io.StringIO()
        writer = csv.DictWriter(
            out, fieldnames=head + job.columns, quoting=csv.QUOTE_ALL, lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        return Response(200, out.getvalue().encode(), {"Content-Type": CSV})
