/// The report's style sheet, inlined in its `<style>` so that the page needs no other file.
enum ReportStyles {
    /// The CSS: page layout, tables, badges, and the charts' classes (rows, ticks, phase bands).
    static let css = """
    :root { --ok: #1a7f37; --bad: #cf222e; --det: #0969da; --muted: #57606a; --line: #d0d7de; }
    * { box-sizing: border-box; }
    body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0 auto; padding: 16px 24px 40px; max-width: 1180px; }
    h1 { font-size: 24px; margin: 8px 0 12px; word-break: break-word; }
    h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
    h3 { font-size: 15px; margin: 18px 0 6px; }
    .muted { color: var(--muted); margin: 4px 0 8px; }
    .warn { color: #9a6700; background: #fff8c5; border: 1px solid #e7d28a; padding: 4px 8px; border-radius: 4px; }
    .limits { background: #f6f8fa; border: 1px solid var(--line); padding: 6px 10px; border-radius: 4px; margin-top: 8px; }
    .limits ul { margin: 4px 0 0 18px; padding: 0; }
    .facts { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 0; }
    .facts div { display: flex; gap: 6px; }
    .facts dt { color: var(--muted); }
    .facts dd { margin: 0; font-weight: 600; word-break: break-word; }
    .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 700; color: #fff; vertical-align: middle; }
    h1 .badge { font-size: 15px; padding: 2px 12px; }
    .badge.pass { background: var(--ok); } .badge.fail { background: var(--bad); } .badge.partial { background: #9a6700; } .badge.skip { background: #6e7781; }
    .badge.false { background: var(--bad); } .badge.detection { background: var(--det); }
    table { border-collapse: collapse; margin: 6px 0; }
    th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
    th { background: #f6f8fa; font-weight: 600; }
    tr.fail td { background: #ffebe9; }
    tr.uncounted td { color: var(--muted); }
    table.compact td, table.compact th { padding: 2px 8px; }
    table.disconnects td:first-child { font-variant-numeric: tabular-nums; white-space: nowrap; }
    .scroll { overflow-x: auto; }
    svg.chart { display: block; font-size: 11px; font-family: inherit; }
    svg .grid { stroke: #eaeef2; stroke-width: 1; }
    svg .tick, svg .row-label { fill: var(--muted); }
    svg .row-label { font-size: 10px; }
    svg .phase-label { fill: #1f2328; font-size: 11px; font-weight: 600; }
    svg .frame { fill: none; stroke: var(--line); }
    svg .up { fill: #4ac26b; }
    svg .down { fill: #e6e8eb; }
    svg .usable { fill: #e6e8eb; }
    svg .stalled { fill: #f0b72f; }
    svg .dead { fill: #82071e; }
    svg .phase { opacity: 0.2; pointer-events: none; }
    svg .phase-edge { stroke-width: 1; stroke-dasharray: 2 2; pointer-events: none; }
    .p0.phase-edge { stroke: #8250df; } .p1.phase-edge { stroke: #bf3989; } .p2.phase-edge { stroke: #0969da; }
    .p3.phase-edge { stroke: #bc4c00; } .p4.phase-edge { stroke: #1a7f37; } .p5.phase-edge { stroke: #57606a; }
    .p0 { fill: #8250df; background: #8250df; } .p1 { fill: #bf3989; background: #bf3989; } .p2 { fill: #0969da; background: #0969da; }
    .p3 { fill: #bc4c00; background: #bc4c00; } .p4 { fill: #1a7f37; background: #1a7f37; } .p5 { fill: #57606a; background: #57606a; }
    svg .mark { stroke-width: 2; fill: none; }
    svg .mark.false { stroke: var(--bad); }
    svg .mark.detection { stroke: var(--det); }
    svg .mark.uncounted { stroke-width: 1; opacity: 0.7; }
    svg .mark.dense { stroke-width: 1; }
    svg .cdf { fill: none; stroke: var(--det); stroke-width: 2; }
    svg .quantile { stroke: #8c959f; stroke-dasharray: 3 3; }
    svg .quantile-dot { fill: var(--det); }
    svg .qlabel { fill: #1f2328; font-size: 11px; }
    .legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 6px 0 10px; color: var(--muted); font-size: 12px; }
    .legend span { display: inline-flex; align-items: center; gap: 5px; }
    i.sw { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
    i.sw.up { background: #4ac26b; } i.sw.down { background: #e6e8eb; border: 1px solid #d0d7de; }
    i.sw.stalled { background: #f0b72f; } i.sw.dead { background: #82071e; } i.sw.phase { opacity: 0.35; }
    i.tk { display: inline-block; width: 3px; height: 14px; }
    i.tk.false { background: var(--bad); } i.tk.detection { background: var(--det); }
    footer { margin-top: 32px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }

    """
}
