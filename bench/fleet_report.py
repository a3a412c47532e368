"""bench/fleet's report: the ratio table (text and Markdown), raw JSON, and the gnuplot PNG.

Every figure of a run is divided by the floor's figure at the same N, measured in the same
run (the machine drifts between runs). Where the floor's figure is about
zero (resident manager memory, idle CPU) the ratio means nothing and is printed as "-".
"""

import json
import os
import subprocess

ORDER = ["floor", "berth", "berth-pivot", "berth-move", "berth-rt", "crun x2", "crun x1",
         "runc x2", "runc x1"]


def _ratio(value, floor):
    if value is None or floor is None or floor <= 0:
        return None
    return value / floor


def rows(results):
    """One dict per measured (engine, N), with derived per-start figures and ratios."""
    floors = {r["n"]: r for r in results if r["engine"] == "floor" and r.get("ok")}
    out = []
    for r in sorted(results, key=lambda r: (r["n"], ORDER.index(r["engine"]))):
        if not r.get("ok"):
            out.append(r)
            continue
        n = r["n"]
        d = dict(r)
        d["starts_per_s"] = n / r["to_running"]
        d["cpu_us"] = r["mgr_cpu"] / n * 1e6
        d["in_cpu_us"] = r["in_cpu"] / n * 1e6 if r.get("in_cpu") is not None else None
        d["kernel_kb_per"] = r["kernel_kb"] / n
        fl = floors.get(n)
        if fl is not None:
            d["x_time"] = _ratio(r["to_running"], fl["to_running"])
            d["x_cpu"] = _ratio(r["mgr_cpu"], fl["mgr_cpu"])
            d["x_kernel"] = _ratio(r["kernel_kb"], fl["kernel_kb"])
            d["x_teardown"] = _ratio(r["teardown"], fl["teardown"])
            if "storm_s" in r:
                d["x_storm"] = _ratio(r["storm_s"], fl["to_running"])
        out.append(d)
    return out


def _f(v, fmt):
    return "-" if v is None else format(v, fmt)


COLUMNS = [
    ("engine", "engine", lambda d: d["engine"]),
    ("N", "N", lambda d: str(d["n"])),
    ("all up s", "time until all N run, s", lambda d: _f(d["to_running"], ".3f")),
    ("xfloor", "x floor", lambda d: _f(d.get("x_time"), ".2f")),
    ("starts/s", "starts/s", lambda d: _f(d["starts_per_s"], ".0f")),
    ("mgr us/st", "manager CPU per start, us", lambda d: _f(d["cpu_us"], ".0f")),
    ("xfloor", "x floor", lambda d: _f(d.get("x_cpu"), ".1f")),
    ("ctr us/st", "in-container CPU per start, us", lambda d: _f(d.get("in_cpu_us"), ".0f")),
    ("mgr kB/c", "manager RSS per container, kB", lambda d: _f(d.get("mgr_rss_per_kb"), ".1f")),
    ("kern kB/c", "kernel memory per container, kB", lambda d: _f(d["kernel_kb_per"], ".0f")),
    ("xfloor", "x floor", lambda d: _f(d.get("x_kernel"), ".2f")),
    ("teardown s", "teardown, s", lambda d: _f(d["teardown"], ".3f")),
    ("xfloor", "x floor", lambda d: _f(d.get("x_teardown"), ".2f")),
]

BERTH_COLUMNS = [
    ("N", "N", lambda d: str(d["n"])),
    ("storm s", "restart storm: all N running again, s",
     lambda d: "failed" if "storm_error" in d else _f(d.get("storm_s"), ".3f")),
    ("xfloor", "x floor start", lambda d: _f(d.get("x_storm"), ".2f")),
    ("storm us/r", "manager CPU per restart, us",
     lambda d: _f(d["storm_cpu"] / d["n"] * 1e6 if "storm_cpu" in d else None, ".0f")),
    ("idle ms/s", "steady state: manager CPU ms per second, N idle",
     lambda d: _f(d["steady_cpu_per_s"] * 1e3 if "steady_cpu_per_s" in d else None, ".3f")),
    ("fds/c", "berth fds per container", lambda d: _f(d.get("fds_per"), ".2f")),
]


def _text_table(columns, data):
    cells = [[c[0] for c in columns]] + [[c[2](d) for c in columns] for d in data]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for k, row in enumerate(cells):
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(columns, data):
    lines = ["| " + " | ".join(c[1] for c in columns) + " |",
             "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(columns))) + "|"]
    for d in data:
        lines.append("| " + " | ".join(c[2](d) for c in columns) + " |")
    return "\n".join(lines)


def goal_lines(data):
    """The goal: berth >= 10x crun's starts/s at N = 1,000, and within 1.5x of the floor."""
    by = {(d["engine"], d["n"]): d for d in data if d.get("ok")}
    variants = ("berth", "berth-pivot", "berth-move", "berth-rt")
    if not any((v, 1000) in by for v in variants):
        return ["goal at N=1000: not measured (berth did not run at N=1000)"]
    out = []
    cruns = [by[k] for k in (("crun x1", 1000), ("crun x2", 1000)) if k in by]
    if not cruns:
        out.append("goal at N=1000: crun did not run at N=1000")
    for engine in variants:
        berth = by.get((engine, 1000))
        if berth is None:
            continue
        if cruns:
            best = max(cruns, key=lambda d: d["starts_per_s"])
            x = berth["starts_per_s"] / best["starts_per_s"]
            out.append(f"goal at N=1000: {engine} {berth['starts_per_s']:.0f} starts/s = {x:.1f}x "
                       f"crun's best ({best['engine']}, {best['starts_per_s']:.0f}/s); goal >= "
                       "10x: " + ("met" if x >= 10 else "NOT met"))
        if berth.get("x_time") is not None:
            out.append(f"goal at N=1000: {engine} takes {berth['x_time']:.2f}x the floor's time; "
                       "goal <= 1.5x: " + ("met" if berth["x_time"] <= 1.5 else "NOT met"))
    return out


def skipped_lines(results, notes):
    out = list(notes)
    for r in results:
        if r.get("ok") and r.get("round_times"):
            times = ", ".join(f"{t:.3f}" for t in r["round_times"])
            out.append(f"floor N={r['n']}: median of {len(r['round_times'])} rounds, all up in "
                       f"{times} s")
    for r in results:
        if not r.get("ok"):
            out.append(f"{r['engine']} N={r['n']}: {r['reason']}")
    return out


def render(results, notes, meta):
    data = rows(results)
    ok = [d for d in data if d.get("ok")]
    berth = [d for d in ok if d["engine"] == "berth"]
    text = [_text_table(COLUMNS, ok), "", "berth only:", _text_table(BERTH_COLUMNS, berth), ""]
    text += goal_lines(data)
    skipped = skipped_lines(results, notes)
    if skipped:
        text += ["", "not measured / notes:"] + [f"  {s}" for s in skipped]
    md = [f"# Fleet load benchmark: one run", "",
          f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}  ",
          f"Source: {meta.get('source', 'unknown')}  ",
          f"Date: {meta['date']}, total wall time {meta['wall']:.0f} s", "",
          "Every ratio is to the floor (raw clone3 + namespaces + exec into a pre-made cgroup) "
          "measured at the same N in the same run. `crun x2` = 2 parallel launchers, `x1` = "
          "sequential. See bench/README.md for what each column means.", "",
          _md_table(COLUMNS, ok), "", "berth only:", "", _md_table(BERTH_COLUMNS, berth), ""]
    md += [f"- {g}" for g in goal_lines(data)]
    if skipped:
        md += ["", "Not measured, and notes:", ""] + [f"- {s}" for s in skipped]
    return "\n".join(text), "\n".join(md) + "\n", data


def write(out_dir, results, notes, meta, tmp_dir):
    os.makedirs(out_dir, exist_ok=True)
    text, md, data = render(results, notes, meta)
    with open(os.path.join(out_dir, "fleet.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, "fleet.json"), "w") as f:
        json.dump({"meta": meta, "notes": notes, "results": data}, f, indent=1, sort_keys=True)
        f.write("\n")
    png = os.path.join(out_dir, "fleet.png")
    err = plot(data, png, tmp_dir)
    return text, png, err


TITLE = "berth fleet load benchmark (bench/fleet): one run, ratios to the floor of the same run"


def plot(data, png, tmp_dir):
    """Four panels against N; returns None, or why there is no plot."""
    ok = [d for d in data if d.get("ok")]
    engines = [e for e in ORDER if any(d["engine"] == e for d in ok)]
    if not engines:
        return "nothing to plot"
    dat = os.path.join(tmp_dir, "fleet.dat")
    with open(dat, "w") as f:
        for e in engines:
            f.write(f"# {e}: N starts/s x_time cpu_us teardown_x\n")
            for d in sorted((d for d in ok if d["engine"] == e), key=lambda d: d["n"]):
                f.write(f"{d['n']} {d['starts_per_s']:.3f} {d.get('x_time') or 'NaN'} "
                        f"{max(d['cpu_us'], 0.1):.3f} {d.get('x_teardown') or 'NaN'}\n")
            f.write("\n\n")
    def series(col):
        return ", ".join(f"'{dat}' index {i} using 1:{col} with linespoints lw 2 title '{e}'"
                         for i, e in enumerate(engines))
    script = f"""
set terminal pngcairo size 1200,860 font 'sans,10'
set output '{png}'
set multiplot layout 2,2 title '{TITLE}'
set logscale x
set xlabel 'containers (N)'
set grid
set key outside right top
set logscale y
set title 'starts per second (higher is better)'
plot {series(2)}
set title 'time until all N run / floor (lower is better)'
plot {series(3)}
set title 'manager CPU per start, us (launchers for crun/runc)'
plot {series(4)}
set title 'teardown time / floor'
plot {series(5)}
unset multiplot
"""
    gp = os.path.join(tmp_dir, "fleet.gp")
    with open(gp, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if r.returncode != 0:
        return f"gnuplot: {r.stderr.strip()}"
    return None
