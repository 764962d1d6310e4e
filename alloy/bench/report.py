"""The bench's report: Markdown tables of every phase, ours beside the peer's."""

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
        "| statements per run | transactions per run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.label} | {result.events} | {len(result.accepted)} "
            f"| {result.accepted_per_second:.0f} | {result.delivered} "
            f"| {result.delivered_per_second:.0f} | {_ms(result.accept_latencies_ms)} "
            f"| {_ms(result.end_to_end_ms)} | {_per_run(result.statements, result)} "
            f"| {_per_run(result.transactions, result)} |"
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
    rss = [point[2] for point in series.points]
    runs = series.points[-1][1]
    slope = series.slope_bytes_per_1000_runs()
    return [
        f"Worker memory over {runs} runs ({len(rss)} samples, one a second, RSS of "
        "every worker process added up):",
        f"first {rss[0] / MB:.1f} MB, last {rss[-1] / MB:.1f} MB, peak "
        f"{max(rss) / MB:.1f} MB; slope over the second half "
        f"{slope / MB:+.3f} MB per 1,000 runs.",
    ]


def report_text(run) -> str:
    results = run.results
    sections = [
        "",
        "Throughput and latency",
        "",
        throughput_table(results),
        "",
        "CPU and memory of the processes under test",
        "",
        resources_table(results),
    ]
    issues = problems(results)
    if issues:
        sections += ["", "Problems", "", *(f"- {line}" for line in issues)]
    soak = soak_lines(run.soak)
    if soak:
        sections += ["", "Soak", "", *soak]
    return "\n".join(sections) + "\n"


def docs_write(run) -> None:
    raise NotImplementedError
