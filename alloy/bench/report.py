"""The bench's report: Markdown tables of every phase, ours beside the peer's."""

import os

from alloy.bench.measure import PhaseResult, percentile

MB = 1024 * 1024


def _ms(values: list[float]) -> str:
    return " / ".join(f"{percentile(values, q):.0f}" for q in (0.5, 0.95, 0.99))


def _per_run(count: int | None, result: PhaseResult) -> str:
    if count is None or not result.delivered:
        return "-"
    return f"{count / result.delivered:.1f}"


def throughput_table(results: list[PhaseResult]) -> str:
    lines = [
        "| phase | events | accepted | accepted/s | delivered | delivered/s "
        "| accept p50 / p95 / p99 ms | end-to-end p50 / p95 / p99 ms "
        "| statements per run | transactions per run "
        "| machine CPU busy: all / outside these processes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.label} | {result.events} | {len(result.accepted)} "
            f"| {result.accepted_per_second:.0f} | {result.delivered} "
            f"| {result.delivered_per_second:.0f} | {_ms(result.accept_latencies_ms)} "
            f"| {_ms(result.end_to_end_ms)} | {_per_run(result.statements, result)} "
            f"| {_per_run(result.transactions, result)} "
            f"| {result.machine_busy:.0%} / {result.outside_busy:.0%} |"
        )
    return "\n".join(lines)


def resources_table(results: list[PhaseResult]) -> str:
    lines = [
        "| phase | process | processes | CPU ms per event | peak RSS MB (VmHWM) "
        "| PSS MB at end |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for role in result.roles:
            lines.append(
                f"| {result.label} | {role.role} | {role.processes} "
                f"| {result.cpu_ms_per_event(role):.1f} "
                f"| {role.peak_rss_bytes / MB:.0f} | {role.pss_bytes / MB:.0f} |"
            )
        lines.append(
            f"| {result.label} | **all** | {sum(r.processes for r in result.roles)} "
            f"| {sum(result.cpu_ms_per_event(r) for r in result.roles):.1f} "
            f"| {total_peak_rss(result) / MB:.0f} "
            f"| {sum(r.pss_bytes for r in result.roles) / MB:.0f} |"
        )
        helpers_ms = result.helpers_cpu_seconds * 1000 / max(1, len(result.accepted))
        lines.append(
            f"| {result.label} | load generator and sink (not counted) | 2 "
            f"| {helpers_ms:.1f} | - | - |"
        )
    return "\n".join(lines)


def total_peak_rss(result: PhaseResult) -> int:
    return sum(role.peak_rss_bytes for role in result.roles)


def problems(results: list[PhaseResult]) -> list[str]:
    """Return a line for every phase that lost, rejected or duplicated events."""
    lines = []
    for result in results:
        rejected = {k: v for k, v in result.statuses.items() if k not in (200, 202)}
        if rejected:
            lines.append(f"{result.label}: answers other than 2xx: {rejected}")
        if result.delivered < len(result.accepted):
            lines.append(
                f"{result.label}: {len(result.accepted) - result.delivered} accepted "
                "events were not delivered to the sink"
            )
        if result.duplicates:
            lines.append(f"{result.label}: {result.duplicates} duplicate deliveries")
    return lines


def soak_lines(series) -> list[str]:
    if series is None or not series.points:
        return []
    rss = [point[1] for point in series.points]
    slope = series.slope_bytes_per_1000_runs()
    return [
        f"Worker memory over {series.runs} runs in {series.seconds:.0f} s "
        f"({len(rss)} samples, one a second, RSS of every worker process added up):",
        f"first {rss[0] / MB:.1f} MB, last {rss[-1] / MB:.1f} MB, peak "
        f"{max(rss) / MB:.1f} MB; slope over the second half "
        f"{slope / MB:+.3f} MB per 1,000 runs.",
    ]


def measured_phases(run) -> list[PhaseResult]:
    """Return every phase of the run, the soak's last."""
    return [*run.results, *([run.soak_result] if run.soak_result else [])]


def report_text(run) -> str:
    sections = [
        "",
        "Throughput and latency",
        "",
        throughput_table(run.results),
        "",
        "CPU and memory of the processes under test",
        "",
        resources_table(run.results),
    ]
    comparison = comparison_rows(run.results)
    if comparison:
        sections += ["", "Ours beside n8n", "", comparison_table(comparison)]
    targets = targets_table(run)
    if targets:
        sections += ["", "Targets", "", targets]
    if run.problems:
        sections += ["", "Problems", "", *(f"- {line}" for line in run.problems)]
    soak = soak_lines(run.soak)
    if soak:
        sections += ["", "Soak", "", *soak]
    return "\n".join(sections) + "\n"


def _closed(results, system: str, workload: str = "custom-event"):
    return [
        r
        for r in results
        if r.system == system and r.workload == workload and r.rate is None
    ]


def _best_by_concurrency(results) -> dict[int, PhaseResult]:
    best: dict[int, PhaseResult] = {}
    for result in results:
        current = best.get(result.concurrency)
        if (
            current is None
            or result.delivered_per_second > current.delivered_per_second
        ):
            best[result.concurrency] = result
    return best


def comparison_rows(results) -> list[tuple[PhaseResult, PhaseResult]]:
    """Pair ours with n8n's custom-event phases at the same concurrency."""
    ours = _best_by_concurrency(_closed(results, "alloy"))
    peer = _best_by_concurrency(_closed(results, "n8n"))
    return [(ours[c], peer[c]) for c in sorted(ours) if c in peer]


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def comparison_table(rows) -> str:
    lines = [
        "| concurrency | runs delivered/s: ours / n8n (ratio) "
        "| accept p99 ms: ours / n8n (ratio) "
        "| end-to-end p50 ms: ours / n8n | peak RSS MB, all processes: ours / n8n "
        "(ratio) | CPU ms per event: ours / n8n |",
        "|---|---|---|---|---|---|",
    ]
    for ours, theirs in rows:
        ours_p99 = percentile(ours.accept_latencies_ms, 0.99)
        theirs_p99 = percentile(theirs.accept_latencies_ms, 0.99)
        ours_rss, theirs_rss = total_peak_rss(ours), total_peak_rss(theirs)
        ours_cpu = sum(ours.cpu_ms_per_event(r) for r in ours.roles)
        theirs_cpu = sum(theirs.cpu_ms_per_event(r) for r in theirs.roles)
        lines.append(
            f"| {ours.concurrency} | {ours.delivered_per_second:.0f} / "
            f"{theirs.delivered_per_second:.0f} "
            f"({_ratio(ours.delivered_per_second, theirs.delivered_per_second)}) "
            f"| {ours_p99:.0f} / {theirs_p99:.0f} ({_ratio(ours_p99, theirs_p99)}) "
            f"| {percentile(ours.end_to_end_ms, 0.5):.0f} / "
            f"{percentile(theirs.end_to_end_ms, 0.5):.0f} "
            f"| {ours_rss / MB:.0f} / {theirs_rss / MB:.0f} "
            f"({_ratio(ours_rss, theirs_rss)}) "
            f"| {ours_cpu:.1f} / {theirs_cpu:.1f} |"
        )
    return "\n".join(lines)


# Worker memory counts as flat when it grows by less than this over the
# second half of the soak, per 1,000 runs.
FLAT_BYTES_PER_1000_RUNS = 0.1 * MB
# Memory samples, one a second, below which a soak's slope is only noise.
SOAK_MIN_SAMPLES = 30


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "not met", None: "not measured"}[met]


def targets_table(run) -> str:
    """Compare the run's figures with the performance targets.

    Returns an empty string when neither the peer nor a soak ran.
    """
    rows = comparison_rows(run.results)
    if not rows and run.soak is None:
        return ""
    lines = ["| target | figure | result |", "|---|---|---|"]
    for ours, theirs in rows:
        ratio = ours.delivered_per_second / max(1e-9, theirs.delivered_per_second)
        lines.append(
            f"| runs delivered/s at least 5x n8n's (3x at the least), "
            f"c={ours.concurrency} | {ratio:.2f}x | "
            f"{_verdict(ratio >= 5)}{' (3x floor met)' if 3 <= ratio < 5 else ''} |"
        )
    at_16 = [(ours, theirs) for ours, theirs in rows if ours.concurrency == 16]
    if at_16:
        ours, theirs = at_16[0]
        ours_p99 = percentile(ours.accept_latencies_ms, 0.99)
        theirs_p99 = percentile(theirs.accept_latencies_ms, 0.99)
        lines.append(
            "| accept p99 at 16 clients at most a tenth of n8n's "
            f"| {ours_p99:.0f} ms vs {theirs_p99:.0f} ms "
            f"| {_verdict(ours_p99 <= theirs_p99 / 10)} |"
        )
    half = [
        r
        for r in run.results
        if r.system == "alloy" and r.workload == "custom-event" and r.rate
    ]
    if half:
        p50 = percentile(half[0].end_to_end_ms, 0.5)
        lines.append(
            "| end-to-end p50 under 50 ms at half capacity "
            f"| {p50:.0f} ms at {half[0].rate:.0f}/s | {_verdict(p50 < 50)} |"
        )
    if rows:
        # VmHWM only grows, so each system's largest figure is its peak in the
        # run. Ours counts the worker counts compared above, since each count
        # runs with workers of its own.
        compared = {ours.workers for ours, _ in rows}
        ours_rss = max(
            total_peak_rss(r)
            for r in run.results
            if r.system == "alloy" and r.workers in compared
        )
        theirs_rss = max(total_peak_rss(r) for r in run.results if r.system == "n8n")
        counts = " or ".join(str(count) for count in sorted(compared))
        lines.append(
            "| web and worker memory at most a third of n8n's (peak RSS, "
            f"{counts} worker(s) as compared above) "
            f"| {ours_rss / MB:.0f} MB vs {theirs_rss / MB:.0f} MB "
            f"| {_verdict(ours_rss * 3 <= theirs_rss)} |"
        )
    if run.soak is not None and run.soak.points:
        slope = run.soak.slope_bytes_per_1000_runs()
        runs = run.soak.runs
        samples = len(run.soak.points)
        enough = samples >= SOAK_MIN_SAMPLES
        figure = (
            f"{slope / MB:+.3f} MB per 1,000 runs"
            if enough
            else f"{samples} samples, too few for a slope (at least "
            f"{SOAK_MIN_SAMPLES}: raise --soak)"
        )
        lines.append(
            f"| worker memory flat over {runs} runs (slope under "
            f"{FLAT_BYTES_PER_1000_RUNS / MB:.1f} MB per 1,000 runs) "
            f"| {figure} "
            f"| {_verdict(slope < FLAT_BYTES_PER_1000_RUNS if enough else None)} |"
        )
    return "\n".join(lines)


def accept_latency_note(run) -> str:
    """Explain a closed-loop accept p99 above a tenth of n8n's, from the run's figures.

    In a closed loop each client sends its next request when the response to
    the last one arrives, so the mean accept latency is the concurrency divided by the
    accepted rate (Little's law), whatever the code does per request.
    Returns an empty string when the target was met or n8n did not run.
    """
    at_16 = [
        (ours, theirs)
        for ours, theirs in comparison_rows(run.results)
        if ours.concurrency == 16
    ]
    if not at_16:
        return ""
    ours, theirs = at_16[0]
    target_ms = percentile(theirs.accept_latencies_ms, 0.99) / 10
    if percentile(ours.accept_latencies_ms, 0.99) <= target_ms:
        return ""
    rate = ours.accepted_per_second
    needed = ours.concurrency / max(1e-9, target_ms / 1000)
    web_ms = _web_cpu_ms(ours)
    mean_ms = 16000 / max(1e-9, rate)
    return (
        "The accept latency at 16 clients is a closed loop: each client sends its "
        "next event when the response to the last arrives, so the mean latency is "
        "16 divided by the accepted rate (Little's law), here "
        f"16 / {rate:.0f} per second = {mean_ms:.0f} ms. A p99 of {target_ms:.0f} ms "
        f"needs a mean well below it, that is, more than {needed:.0f} events "
        f"accepted per second while the workers share the same {os.cpu_count()} "
        f"cores. The web processes used {web_ms:.1f} ms of CPU per event, and each "
        "runs its Python on one core at a time (the GIL), so each accepts at most "
        f"about {1000 / max(1e-9, web_ms):.0f} per second. Another web process "
        "takes about 100 MB, against the memory target above."
    )


def _web_cpu_ms(result: PhaseResult) -> float:
    web = [role for role in result.roles if role.role == "web"]
    return result.cpu_ms_per_event(web[0]) if web else 0.0


def scaling_table(results) -> str:
    rows = sorted(
        (r for r in _closed(results, "alloy") if r.workers),
        key=lambda r: (r.concurrency, r.workers),
    )
    lines = [
        "| RQ worker processes | concurrency | runs delivered/s "
        "| end-to-end p50 / p99 ms | machine CPU busy: all / outside these processes |",
        "|---|---|---|---|---|",
    ]
    for result in rows:
        lines.append(
            f"| {result.workers} | {result.concurrency} "
            f"| {result.delivered_per_second:.0f} "
            f"| {percentile(result.end_to_end_ms, 0.5):.0f} / "
            f"{percentile(result.end_to_end_ms, 0.99):.0f} "
            f"| {result.machine_busy:.0%} / {result.outside_busy:.0%} |"
        )
    return "\n".join(lines)
