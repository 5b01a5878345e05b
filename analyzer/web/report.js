/* report.js - the page of `poolscout report --html`: the summary, the
 * ranked pooling candidates (#ranked), the flame graph (#flame), the
 * timeline with the peak (#timeline) and what was live at exit (#leaks),
 * all drawn from the document html.c embeds. */
'use strict';

const REMEDY_TITLES = {
	pool: 'keep freed objects and hand them out again',
	presize: 'reserve the final capacity once instead of growing by realloc',
	stack: 'a stack buffer or a local: no allocation at all',
	arena: 'allocate from an arena and free it in one go',
	none: 'nothing to gain from pooling',
};

function renderSummary(data) {
	const t = data.report.totals, lim = data.limits;
	const out = document.getElementById('summary');
	out.append(el('p', {},
		`${t.files} profile${t.files === 1 ? '' : 's'}, ${t.threads} thread${t.threads === 1 ? '' : 's'}, ` +
		`${fmtNs(t.duration_ns)}, ${fmtExact(t.alloc_objects)} allocations (${fmtBytes(t.alloc_space)}), ` +
		`${fmtExact(t.inuse_objects)} objects (${fmtBytes(t.inuse_space)}) live at exit` +
		(t.work_units ? `, ${fmtExact(t.work_units)} units of work` : '') + '.'));
	if (t.partial)
		out.append(el('p', { class: 'warning' }, 'PARTIAL: a profile was cut short; ' +
			'numbers stop at its last snapshot.'));
	if (t.sample_every > 1)
		out.append(el('p', { class: 'warning' }, `SAMPLED: 1 in ${t.sample_every} ` +
			'allocations recorded; counts are estimates.'));
	if (t.recording_ns && t.recording_ns >= t.duration_ns / 100)
		out.append(el('p', { class: 'warning' }, `RECORDING: took about ` +
			`${fmtNs(t.recording_ns)} of the run ` +
			`(${Math.round(100 * t.recording_ns / t.duration_ns)}%, estimated); ` +
			`rates are per second of the program's own ` +
			`${fmtNs(t.duration_ns - t.recording_ns)}.`));
	if (lim.sites_shown < lim.sites_total)
		out.append(el('p', { class: 'warning', id: 'sites-cut' },
			`The table holds the first ${fmtExact(lim.sites_shown)} of ` +
			`${fmtExact(lim.sites_total)} ranked sites (-n N, or to keep this page small).`));
	stackCutNote(out, lim.stacks, 'The flame graph', 'stacks-cut');
}

/* ---- #ranked ---------------------------------------------------------------- */

function stackList(stacks, siteAllocs) {
	return el('div', { class: 'stacks' }, stacks.map(s => el('div', { class: 'stack' },
		el('div', { class: 'stack-head' },
			`${fmtExact(s.alloc_objects)} allocations` +
			(siteAllocs ? ` (${fmtPct(s.alloc_objects / siteAllocs)} of the site)` : '') +
			(s.alloc_space !== undefined ? `, ${fmtBytes(s.alloc_space)}, ` +
				`${fmtExact(s.inuse_objects)} live at exit (${fmtBytes(s.inuse_space)})` : '') +
			(s.pid !== undefined ? `, pid ${s.pid}` : '')),
		el('ol', { class: 'frames' }, s.frames.map(f => el('li', {},
			el('code', {}, f.function), ' ',
			el('span', { class: 'where' }, f.file ? `${fileLine(f)}  ${baseName(f.module)}` : fileLine(f))))),
		s.frames_total ? el('div', { class: 'note' },
			`${s.frames_total - s.frames.length} outer frames not kept`) : null)));
}

function renderRanked(data, flame) {
	const sites = data.report.sites, total = data.report.totals;
	const byRank = new Map();
	for (const s of data.stacks) {
		if (!s.site_rank) continue;
		if (!byRank.has(s.site_rank)) byRank.set(s.site_rank, []);
		byRank.get(s.site_rank).push(s);
	}
	const threads = new Map(data.site_threads.map(t => [t.rank, t]));
	const stacksOf = site => {
		const mine = (byRank.get(site.rank) || []).slice()
			.sort((a, b) => b.alloc_objects - a.alloc_objects);
		return mine.length ? mine : site.stacks;
	};
	const share = (v, t) => t > 0 ? ` ${fmtPct(v / t)}` : '';
	let table;
	const toggle = site => table.expand(site);
	const columns = [
		{ label: '#', title: 'rank: the remedy that saves the most allocator calls first',
			sort: s => s.rank, ascendingFirst: true,
			cell: s => el('td', { class: 'num rank', 'data-value': s.rank }, s.rank) },
		{ label: 'site', title: 'the function that allocates, and why it got its remedy',
			numeric: false, sort: s => s.function,
			cell: s => el('td', { class: 'site' },
				el('a', { href: `#site-${s.rank}`, class: 'site-name', title: s.module,
					onclick: e => { e.preventDefault(); toggle(s); } }, s.function),
				el('ul', { class: 'reasons' }, s.reasons.map(r => el('li', {}, r)))) },
		{ label: 'file:line', numeric: false, sort: s => fileLine(s),
			cell: s => el('td', { class: 'where', title: s.file || s.module }, fileLine(s)) },
		{ label: 'remedy', numeric: false, sort: s => s.remedy,
			cell: s => el('td', {}, el('span', { class: `remedy remedy-${s.remedy}`,
				title: REMEDY_TITLES[s.remedy] }, s.remedy),
			s.pool_size ? el('div', { class: 'small' }, `pool of ${fmtExact(s.pool_size)}`) : null,
			s.reserve_bytes ? el('div', { class: 'small' }, `reserve ${fmtBytes(s.reserve_bytes)}`) : null) },
		{ label: 'saves', title: 'predicted saving: allocator calls per second, bytes churned per second',
			sort: s => s.saves.allocator_calls_per_s,
			cell: s => s.remedy === 'none' ? el('td', { class: 'num', 'data-value': 0 }, '-')
				: el('td', { class: 'num', 'data-value': s.saves.allocator_calls_per_s,
					title: `${fmtExact(Math.round(s.saves.allocator_calls_per_s))} calls/s` },
				`${fmtCount(s.saves.allocator_calls_per_s)}/s`,
				el('div', { class: 'small' }, `${fmtBytes(s.saves.bytes_per_s)}/s`)) },
		{ label: 'alloc_objects', title: 'allocations made, and their share of all',
			sort: s => s.alloc_objects,
			cell: s => numCell(s.alloc_objects, fmtCount(s.alloc_objects) + share(s.alloc_objects, total.alloc_objects)) },
		{ label: 'alloc_space', title: 'bytes allocated', sort: s => s.alloc_space,
			cell: s => numCell(s.alloc_space, fmtBytes(s.alloc_space), fmtExact(s.alloc_space) + ' bytes') },
		{ label: 'inuse', title: 'objects and bytes still live at exit', sort: s => s.inuse_space,
			cell: s => el('td', { class: 'num', 'data-value': s.inuse_space,
				title: `${fmtExact(s.inuse_objects)} objects, ${fmtExact(s.inuse_space)} bytes` },
			fmtBytes(s.inuse_space), el('div', { class: 'small' }, `${fmtCount(s.inuse_objects)} obj`)) },
		{ label: 'peak live', title: 'most objects live at once (largest on one thread below)',
			sort: s => s.peak_live_objects,
			cell: s => el('td', { class: 'num', 'data-value': s.peak_live_objects },
				fmtCount(s.peak_live_objects),
				el('div', { class: 'small' }, `${fmtCount(s.thread_peak_live_objects)} on a thread`)) },
		{ label: 'lifetime', title: 'lifetime p50 and p99 (upper bounds of log2 buckets)',
			sort: s => s.lifetime_ns_p50,
			cell: s => el('td', { class: 'num', 'data-value': s.lifetime_ns_p50 },
				s.lifetime_ns_p50 ? `< ${fmtNs(s.lifetime_ns_p50)}` : '-',
				el('div', { class: 'small' }, s.lifetime_ns_p99 ? `p99 < ${fmtNs(s.lifetime_ns_p99)}` : '')) },
		{ label: 'threads', title: 'threads that allocate here', sort: s => (threads.get(s.rank) || { count: 0 }).count,
			cell: s => {
				const t = threads.get(s.rank) || { count: 0, threads: [] };
				return el('td', { class: 'num', 'data-value': t.count,
					title: t.threads.map(x => `${x.name || '?'} (${x.tid}): ${fmtExact(x.alloc_objects)}`).join('\n') },
				t.count, t.count === 1 ? el('div', { class: 'small' }, t.threads[0].name || t.threads[0].tid) : null);
			} },
		{ label: 'stacks', numeric: false, sort: s => s.rank,
			cell: s => el('td', {}, el('button', { type: 'button', class: 'expand',
				'aria-expanded': table && table.isOpen(s) ? 'true' : 'false',
				onclick: () => toggle(s) },
			`${table && table.isOpen(s) ? '\u25be' : '\u25b8'} ${stacksOf(s).length}`)) },
	];
	table = sortableTable(document.getElementById('ranked-table'), columns, sites, {
		rowAttrs: s => ({ id: `site-${s.rank}`, 'data-rank': s.rank, 'data-function': s.function }),
		detail: s => el('div', { class: 'detail-body' },
			el('button', { type: 'button', class: 'to-flame', onclick: () => {
				flame.searchBox.value = '^' + escapeRegex(s.function) + '$';
				flame.search(flame.searchBox.value);
				document.getElementById('flame').scrollIntoView();
			} }, 'show in the flame graph'),
			stackList(stacksOf(s), s.alloc_objects)),
	});
	if (!sites.length)
		document.getElementById('ranked-table').after(el('p', {}, 'No allocation sites.'));
	/* #site-N in the address opens that site */
	const fromHash = () => {
		const m = /^#site-(\d+)$/.exec(location.hash);
		const s = m && sites.find(x => x.rank === +m[1]);
		if (s && !table.isOpen(s)) {
			table.expand(s, true);
			document.getElementById(`site-${s.rank}`).scrollIntoView();
		}
	};
	window.addEventListener('hashchange', fromHash);
	fromHash();
}

/* ---- #timeline ---------------------------------------------------------------- */

function liveTable(rows, others, total, id) {
	const table = el('table', { id, class: 'data' });
	const columns = [
		{ label: 'site', numeric: false, sort: r => r.function,
			cell: r => el('td', { class: 'site' }, r.rank
				? el('a', { href: `#site-${r.rank}`, class: 'site-name' }, r.function)
				: el('span', { class: 'site-name' }, r.function)) },
		{ label: 'file:line', numeric: false, sort: r => fileLine(r),
			cell: r => el('td', { class: 'where', title: r.file || r.module }, fileLine(r)) },
		{ label: 'objects', sort: r => r.inuse_objects,
			cell: r => numCell(r.inuse_objects, fmtCount(r.inuse_objects)) },
		{ label: 'bytes', sort: r => r.inuse_space,
			cell: r => numCell(r.inuse_space, fmtBytes(r.inuse_space), fmtExact(r.inuse_space) + ' bytes') },
		{ label: 'share', title: 'of the bytes live then', sort: r => r.inuse_space,
			cell: r => numCell(total > 0 ? r.inuse_space / total : 0,
				total > 0 ? fmtPct(r.inuse_space / total) : '-') },
	];
	sortableTable(table, columns, rows, {
		rowAttrs: r => ({ 'data-function': r.function }),
	});
	const parts = [table];
	if (others && others.sites)
		parts.push(el('p', { class: 'note' }, `and ${fmtExact(others.sites)} more sites holding ` +
			`${fmtExact(others.inuse_objects)} objects (${fmtBytes(others.inuse_space)})`));
	return parts;
}

/* Fills body with one process's charts and peak table; returns the
 * function that draws the charts again (when the window is resized). */
function renderProcessTimeline(proc, body) {
	const xs = [0, ...proc.points.map(p => p.t_ms)];
	const series = key => [0, ...proc.points.map(p => p[key])];
	const peakIndex = proc.peak ? Math.floor(proc.peak.snapshot / proc.snapshots_per_point) + 1 : -1;
	const marker = proc.peak ? { index: peakIndex,
		label: `peak ${fmtBytes(proc.peak.inuse_space)} at ${fmtMs(proc.peak.t_ms)}` } : null;
	const bytesChart = el('div', { class: 'chart-box', id: 'timeline-inuse-space' });
	const objectsChart = el('div', { class: 'chart-box', id: 'timeline-inuse-objects' });
	const rateChart = el('div', { class: 'chart-box', id: 'timeline-rate' });
	const every = proc.interval_ms ? `every ${fmtExact(proc.interval_ms)} ms` : '';
	body.replaceChildren(
		el('p', { class: 'note' }, `${fmtExact(proc.snapshots)} snapshots ${every}` +
			(proc.snapshots_per_point > 1 ? `; each point is the largest of ${proc.snapshots_per_point} snapshots` : '') +
			(proc.complete ? '' : '; the profile was cut short') + '.'),
		el('h3', {}, 'Bytes in use'), bytesChart,
		el('h3', {}, 'Objects in use'), objectsChart,
		el('h3', {}, 'Allocations per second, per thread'), rateChart);
	const draw = () => {
		lineChart(bytesChart, { id: 'chart-inuse-space', xs, bytes: true, format: fmtBytes, marker,
			series: [{ name: 'bytes in use', values: series('inuse_space') }] });
		lineChart(objectsChart, { id: 'chart-inuse-objects', xs, format: fmtCount,
			marker: proc.peak ? { index: peakIndex, label: `${fmtCount(proc.peak.inuse_objects)} objects at the peak` } : null,
			series: [{ name: 'objects in use', values: series('inuse_objects') }] });
		const times = proc.points.map(p => p.t_ms);
		lineChart(rateChart, { id: 'chart-rate', xs: times, steps: true, format: v => fmtCount(v) + '/s',
			series: proc.threads.map(t => ({
				name: t.tid === null ? t.name : `${t.name || '?'} (${t.tid})`,
				values: t.alloc_objects.map((n, k) => {
					const dt = (times[k] - (k ? times[k - 1] : 0)) / 1000;
					return dt > 0 ? n / dt : 0;
				}),
			})) });
	};
	draw();
	const peak = el('div', { id: 'peak' });
	if (proc.peak) {
		peak.append(el('h3', {}, `Live at the peak: ${fmtBytes(proc.peak.inuse_space)} in ` +
			`${fmtExact(proc.peak.inuse_objects)} objects at ${fmtMs(proc.peak.t_ms)}`),
		el('p', { class: 'note' }, 'The peak is the snapshot with the most bytes in use; ' +
			'between two snapshots there may have been more.'));
		if (proc.live_at_peak)
			peak.append(...liveTable(proc.live_at_peak, proc.live_at_peak_others,
				proc.peak.inuse_space, 'peak-table'));
		else
			peak.append(el('p', { class: 'warning' }, proc.live_at_peak_error || 'not available'));
	} else {
		peak.append(el('p', {}, 'No snapshot was written: the process ended before the first one.'));
	}
	body.append(peak);
	return draw;
}

/* The timeline of one process at a time (a menu picks it in a tree). */
function renderTimeline(data) {
	const procs = data.timeline.processes;
	const section = document.getElementById('timeline-body');
	const body = el('div', {});
	let draw = null, pending = 0;
	if (procs.length > 1) {
		const select = el('select', { id: 'timeline-process', 'aria-label': 'process' },
			procs.map((p, i) => el('option', { value: i },
				`${p.comm || '?'} (pid ${p.pid}), ${p.snapshots} snapshots`)));
		select.addEventListener('change', () => {
			draw = renderProcessTimeline(procs[+select.value], body);
		});
		section.append(el('label', {}, 'process ', select));
	}
	section.append(body);
	if (procs.length)
		draw = renderProcessTimeline(procs[0], body);
	window.addEventListener('resize', () => {
		clearTimeout(pending);
		pending = setTimeout(() => draw && draw(), 150);
	});
}

/* ---- #leaks ---------------------------------------------------------------------- */

function renderLeaks(data) {
	const tl = data.timeline, body = document.getElementById('leaks-body');
	const total = data.report.totals.inuse_space;
	if (!tl.ended_cleanly)
		body.append(el('p', { class: 'warning' }, 'A profile was cut short: this is what ' +
			'was live at its last snapshot, not at exit.'));
	if (!tl.live_at_end.length) {
		body.append(el('p', {}, 'Nothing was live at exit.'));
		return;
	}
	body.append(el('p', {}, `${fmtExact(data.report.totals.inuse_objects)} objects ` +
		`(${fmtBytes(total)}) were never freed, by site:`),
	...liveTable(tl.live_at_end, tl.live_at_end_others, total, 'leaks-table'));
}

function main() {
	const data = loadData();
	renderSummary(data);
	const flame = new FlameGraph(document.getElementById('flame-body'), { id: 'flame' });
	flame.setStacks(data.stacks);
	renderRanked(data, flame);
	renderTimeline(data);
	renderLeaks(data);
	document.body.dataset.ready = 'true';
}

main();
