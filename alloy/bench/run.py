"""One bench invocation: start the sink and the stacks, run every phase, report."""

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from alloy.bench import workloads
from alloy.bench.load import Request
from alloy.bench.measure import (
    MemorySeries,
    PhaseResult,
    Target,
    phase_run,
    rss_sample_forever,
    sink_arrivals,
)
from alloy.bench.options import BenchError, BenchOptions
from alloy.bench.processes import ProcessGroups, wait_until
from alloy.bench.stack import AlloyStack


class BenchRun:
    def __init__(
        self, options: BenchOptions, *, log_dir: Path, write: Callable[[str], None]
    ) -> None:
        self.options = options
        self.log_dir = log_dir
        self.write = write
        self.groups = ProcessGroups(log_dir)
        self.sink_url = f"http://127.0.0.1:{options.sink_port}"
        self.results: list[PhaseResult] = []
        self.soak: MemorySeries | None = None
        self.soak_result: PhaseResult | None = None
        self.peer = None
        # Lines naming each started process that exited while phases ran.
        self.process_exits: list[str] = []
        self._phase_number = 0

    def execute(self) -> str:
        from alloy.bench import report

        if self.options.peer:
            from alloy.bench.n8n import N8nPeer

            self.peer = N8nPeer(
                self.groups,
                install_dir=self.options.n8n_dir,
                port=self.options.peer_port,
                sink_url=self.sink_url,
                log_dir=self.log_dir,
            )
            # npm install takes minutes; it runs while our stack is measured.
            self.peer.install_start()
        self._sink_start()
        try:
            self._ours_measure()
            if self.peer is not None:
                self._peer_measure()
        except requests.RequestException as exc:
            raise BenchError(
                f"The sink at {self.sink_url} failed: {exc}. Its log is "
                f"{self.groups.log_path('sink')}."
            ) from exc
        text = report.report_text(self)
        if self.options.write_docs and self.problems:
            self.write(
                "Did not write docs/benchmarks.md, because the run had problems "
                "(listed under Problems)."
            )
        elif self.options.write_docs:
            from alloy.bench.docs import docs_write

            self.write(f"Wrote {docs_write(self)}")
        return text

    @property
    def problems(self) -> list[str]:
        """Return what went wrong: lost or failed events, and processes that exited."""
        from alloy.bench import report

        return [*report.problems(report.measured_phases(self)), *self.process_exits]

    def stop(self) -> None:
        self.groups.stop_all()
        if self.peer is not None:
            self.peer.install_stop()

    def _sink_start(self) -> None:
        self.groups.start(
            "sink",
            [
                sys.executable,
                "-m",
                "alloy.bench.sink",
                "--port",
                str(self.options.sink_port),
            ],
            env=None,
            cwd=Path(__file__).resolve().parent.parent.parent,
        )
        if not wait_until(self._sink_answers, timeout=10):
            raise BenchError(
                f"The sink did not respond on port {self.options.sink_port}; see "
                f"{self.groups.log_path('sink')}."
            )

    def _helper_pids(self) -> tuple[int, ...]:
        """Return the load generator's (this process) and the sink's pids."""
        return (os.getpid(), self.groups.processes["sink"].pid)

    def _sink_answers(self) -> bool:
        try:
            sink_arrivals(self.sink_url)
        except requests.RequestException:
            return False
        return True

    def _phase_name(self) -> str:
        self._phase_number += 1
        return f"p{self._phase_number}"

    def _ours_measure(self) -> None:
        options = self.options
        stack = AlloyStack(
            self.groups,
            port=options.port,
            web_workers=options.web_workers,
            server_url=options.postgres_url,
            database_name=options.database,
            redis_url=options.redis_url,
            count_dir=self.log_dir / "statements",
        )
        self.write(f"Preparing the database {options.database} and the workflows")
        prepared = stack.prepare(self.sink_url)
        stack.web_start()
        target = Target(
            system="alloy",
            host="127.0.0.1",
            port=options.port,
            roles=stack.roles,
            statements=stack.statement_counts,
            transactions=stack.transaction_count,
            records=stack.records,
        )

        def requests_for(workload: str, count: int) -> list[Request]:
            phase = self._phase_name()
            if workload == workloads.CUSTOM_EVENT:
                return workloads.custom_event_requests(
                    phase, count, prepared["api_key"]
                )
            return workloads.shopify_webhook_requests(
                phase, count, workloads.SHOPIFY_CLIENT_SECRET
            )

        for workers in options.workers:
            # The last worker count is the main one: every workload, the
            # open-loop phase and the soak run with it. The others repeat the
            # closed-loop custom-event phases for the scaling table.
            main = workers == options.workers[-1]
            stack.workers_start(workers)
            try:
                self._warm_up(target, requests_for(workloads.CUSTOM_EVENT, 50))
                for workload in options.workloads:
                    if not main and workload != workloads.CUSTOM_EVENT:
                        continue
                    self._phases(
                        target,
                        workload,
                        lambda count, w=workload: requests_for(w, count),
                        workers,
                        with_rate=main,
                    )
                if options.soak and main:
                    self._soak(
                        target,
                        lambda count: requests_for(workloads.CUSTOM_EVENT, count),
                        workers,
                    )
            finally:
                stack.workers_stop()
        self.groups.stop("web")

    def _warm_up(self, target: Target, requests: list[Request]) -> None:
        """Send a few events first, so that imports and connections are not timed."""
        phase_run(
            target,
            workload="warm-up",
            requests=requests,
            concurrency=4,
            sink_url=self.sink_url,
            helper_pids=self._helper_pids(),
        )

    def _phases(
        self,
        target: Target,
        workload: str,
        requests_for: Callable[[int], list[Request]],
        workers: int | None,
        *,
        with_rate: bool = True,
    ) -> None:
        options = self.options
        first: PhaseResult | None = None
        for concurrency in options.concurrency:
            self.write(
                f"{target.system} {workload}: {options.events} events at "
                f"concurrency {concurrency}"
                + (f", {workers} worker(s)" if workers else "")
            )
            result = phase_run(
                target,
                workload=workload,
                requests=requests_for(options.events),
                concurrency=concurrency,
                sink_url=self.sink_url,
                helper_pids=self._helper_pids(),
                workers=workers,
                on_progress=self.write,
            )
            self.results.append(result)
            self._exits_check(result)
            first = first or result
            self.write(
                f"  {result.delivered_per_second:.0f} runs delivered/s, "
                f"{result.accepted_per_second:.0f} accepted/s"
            )
        if options.rate is None or first is None or not with_rate:
            return
        rate = options.rate
        if rate == "half":
            rate = max(1.0, first.delivered_per_second / 2)
        self.write(
            f"{target.system} {workload}: {options.events} events at {rate:.0f}/s"
        )
        result = phase_run(
            target,
            workload=workload,
            requests=requests_for(options.events),
            concurrency=max(options.concurrency),
            sink_url=self.sink_url,
            helper_pids=self._helper_pids(),
            workers=workers,
            rate=rate,
            on_progress=self.write,
        )
        self.results.append(result)
        self._exits_check(result)

    def _exits_check(self, result: PhaseResult) -> None:
        """Record every started process that exited by the end of ``result``."""
        for role, code in self.groups.exited().items():
            line = (
                f"{role} exited with code {code} by the end of {result.label}; "
                f"see {self.groups.log_path(role)}"
            )
            if not any(
                known.startswith(f"{role} exited") for known in self.process_exits
            ):
                self.process_exits.append(line)
                self.write(line)

    def _soak(self, target: Target, requests_for, workers: int) -> None:
        count = self.options.soak
        self.write(f"Soak: {count} custom events, sampling the workers' memory")
        series = MemorySeries()
        stop = threading.Event()

        def worker_roles() -> dict[str, int]:
            return {
                role: pid
                for role, pid in target.roles().items()
                if role.startswith("worker-")
            }

        sampler = threading.Thread(
            target=rss_sample_forever, args=(worker_roles, series, stop), daemon=True
        )
        started = time.monotonic()
        sampler.start()
        try:
            result = phase_run(
                target,
                workload="soak",
                requests=requests_for(count),
                concurrency=min(self.options.concurrency),
                sink_url=self.sink_url,
                helper_pids=self._helper_pids(),
                workers=workers,
                on_progress=self.write,
            )
        finally:
            stop.set()
            sampler.join()
        series.runs = result.delivered
        series.seconds = time.monotonic() - started
        self.soak = series
        self.soak_result = result
        self._exits_check(result)

    def _peer_measure(self) -> None:
        peer = self.peer
        self.write("Waiting for the n8n install to finish")
        peer.install_wait()
        peer.start()
        target = Target(
            system="n8n", host="127.0.0.1", port=peer.port, roles=peer.roles
        )

        def requests_for(count: int) -> list[Request]:
            return workloads.n8n_requests(self._phase_name(), count, peer.webhook_path)

        try:
            self._warm_up(target, requests_for(50))
            self._phases(target, workloads.CUSTOM_EVENT, requests_for, None)
        finally:
            peer.stop()
