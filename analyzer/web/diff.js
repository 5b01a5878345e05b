/* diff.js - the page of `poolscout diff --html`: the sites of both sides
 * with before, after and change per metric (#diff), per unit of work when
 * the text diff divides too, and a differential flame graph
 * (#diff-flame): red what grew, blue what shrank. */
'use strict';

function sideSummary(name, side) {
	return `${name}: ${side.files} profile${side.files === 1 ? '' : 's'}, ` +
		`${fmtNs(side.duration_ns)}` +
		(side.work_units ? `, ${fmtExact(side.work_units)} units of work` : '') +
		(side.partial ? ' (PARTIAL: cut short)' : '') +
		(side.sample_every > 1 ? ` (SAMPLED: 1 in ${side.sample_every} allocations ` +
			'recorded; counts are estimates, and a change within their 95% error ' +
			'is "noise")' : '');
}

function renderDiffSummary(data, perUnit) {
	const d = data.diff, out = document.getElementById('summary');
	out.append(el('p', {}, sideSummary('before', d.base)), el('p', {}, sideSummary('after', d.new)));
	if (d.per === '--per')
		out.append(el('p', {}, `Per unit of work: both sides divided by ${fmtExact(d.base.divisor)} (--per).`));
	else if (perUnit)
		out.append(el('p', {}, `Per unit of work: before divided by ${fmtExact(d.base.divisor)} units, ` +
			`after by ${fmtExact(d.new.divisor)} (recorded by the program).`));
	const total = (m, side) => d[side][m];
	out.append(el('p', { id: 'diff-totals' }, METRICS.map(m => {
		const b = total(m, 'base'), a = total(m, 'new');
		return `${m}: ${fmtMetric(b, m, perUnit)} \u2192 ${fmtMetric(a, m, perUnit)}` +
			(b > 0 ? ` (${fmtSigned(fmtPct((a - b) / b), a - b)})` : '');
	}).join(';  ')));
	stackCutNote(out, data.limits.base_stacks, 'The flame graph\'s before side', 'base-stacks-cut');
	stackCutNote(out, data.limits.new_stacks, 'The flame graph\'s after side', 'new-stacks-cut');
}

function renderDiffTable(data, perUnit, flame) {
	const sites = data.diff.sites;
	const change = (s, m) => {
		const b = s.base[m], d = s.delta[m];
		return fmtSigned(fmtMetric(d, m, perUnit), d) +
			(b > 0 ? ` (${fmtSigned(fmtPct(d / b), d)})` : '');
	};
	const columns = [
		{ label: 'site', numeric: false, sort: s => s.function,
			cell: s => el('td', { class: 'site' }, el('a', { href: '#diff-flame', class: 'site-name',
				onclick: () => {
					flame.searchBox.value = '^' + escapeRegex(s.function) + '$';
					flame.search(flame.searchBox.value);
				} }, s.function)) },
		{ label: 'file:line', numeric: false, sort: s => fileLine(s),
			cell: s => el('td', { class: 'where', title: s.file || '' }, fileLine(s)) },
		{ label: 'status', numeric: false, sort: s => s.status,
			cell: s => el('td', {}, el('span', { class: `status status-${s.status}` }, s.status)) },
	];
	for (const m of METRICS) {
		const fmt = v => fmtMetric(v, m, perUnit);
		columns.push(
			{ label: 'before', title: `${m} before`, group: m, sort: s => s.base[m],
				cell: s => numCell(s.base[m], fmt(s.base[m])) },
			{ label: 'after', title: `${m} after`, group: m, sort: s => s.new[m],
				cell: s => numCell(s.new[m], fmt(s.new[m])) },
			{ label: 'change', title: `${m}: after - before (largest growth first; click again for largest fall)`,
				group: m, sort: s => s.delta[m],
				cell: s => {
					const td = numCell(s.delta[m], change(s, m));
					td.classList.add(s.delta[m] > 0 ? 'grown' : s.delta[m] < 0 ? 'shrunk' : 'same');
					return td;
				} });
	}
	const table = document.getElementById('diff-table');
	sortableTable(table, columns, sites, {
		rowAttrs: s => ({ 'data-function': s.function, 'data-status': s.status }),
	});
	/* a header row above naming each metric's three columns */
	const groups = el('tr', { class: 'groups' }, el('th', { colspan: 3 }, perUnit ? 'per unit of work' : ''),
		METRICS.map(m => el('th', { colspan: 3, class: 'group', title: METRIC_TITLES[m] }, m)));
	table.tHead.prepend(groups);
	if (!sites.length)
		table.after(el('p', {}, 'No allocation sites on either side.'));
}

function mainDiff() {
	const data = loadData();
	const d = data.diff;
	const perUnit = d.per !== null;
	renderDiffSummary(data, perUnit);
	const flame = new FlameGraph(document.getElementById('diff-flame-body'), {
		id: 'diff-flame', diff: true, perUnit, divisors: [d.base.divisor, d.new.divisor] });
	flame.setStacks(data.base_stacks, data.new_stacks);
	renderDiffTable(data, perUnit, flame);
	document.body.dataset.ready = 'true';
}

mainDiff();
