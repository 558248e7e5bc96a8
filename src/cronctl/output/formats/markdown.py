"""`-f markdown`: the report as a chat message (Slack, an incident channel, an issue comment).

Unpadded pipe tables, findings as numbered lists, exact commands as inline code. A report with a
`markdown_limit` fits in that many characters: sections that do not fit are named at the end, never cut.
"""

from __future__ import annotations

from typing import IO

from cronctl.output.report import Items, KeyValues, Report, Section, Table, Text

NAME = "markdown"
DESCRIPTION = "for chat"
COMMANDS = None

MARKDOWN_MORE = "_Left out to fit one chat message: {what}{hint}._"


def render(report: Report, out: IO[str]) -> str:
    from cronctl.output.render import headline, line

    lines: list[str] = []
    if report.title:
        lines += [f"## {line(report.title)}", ""]
    if report.headline:
        lines += [f"**{headline(report)}**", ""]
    limit = report.markdown_limit
    left_out: list[str] = []
    for section in report.sections:
        if limit is None:
            lines += _md_section(section)[0]
            continue
        reserve = 260  # room for the line that says what was left out
        body, total = _md_section(section)
        if _size(lines + body) + reserve <= limit and not left_out:
            lines += body
            continue
        if not left_out and isinstance(section, (Items, Table)) and total:
            # As many whole rows / findings as fit, most urgent first; the rest is named, not cut.
            fitted = 0
            for count in range(total - 1, 0, -1):
                part, _ = _md_section(section, count)
                if _size(lines + part) + reserve <= limit:
                    lines += part
                    fitted = count
                    break
            if fitted:
                left_out.append(f"{total - fitted} more in {_name(section)}")
                continue
        left_out.append(_name(section))
    if left_out:
        hint = f"; {report.markdown_more}" if getattr(report, "markdown_more", None) else ""
        lines += [MARKDOWN_MORE.format(what="; ".join(left_out), hint=hint), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_cell(text: str) -> str:
    return "<br>".join(text.replace("|", "\\|").splitlines())


def _md_code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_section(section: Section, rows: int | None = None) -> tuple[list[str], int]:
    """A section's Markdown lines, with at most `rows` of its rows / items; and how many it holds in all."""
    from cronctl.output.cells import format_cell
    from cronctl.output.render import clean, grid, item_head, line

    if isinstance(section, Text):
        text = clean(section.text)
        return [f"> {text}" if section.tone in ("warn", "crit") else text, ""], 1
    lines: list[str] = []
    if isinstance(section, Items):
        if section.title:
            lines += [f"### {line(section.title)}", ""]
        if not section.items:
            return [*lines, f"_{line(section.empty)}_", ""], 0
        for n, item in enumerate(section.items[:rows], 1):
            head = line(item_head(item))
            lines.append(f"{n}. **{head}**" if section.numbered else f"- **{head}**")
            lines += [f"   - {line(k)}: {line(v)}" for k, v in item.lines]
            lines += [f"   - run: {_md_code(line(c))}" for c in item.commands]
        return [*lines, ""], len(section.items)
    if isinstance(section, KeyValues):
        # A two-column table with an empty header reads badly in chat; a list does not.
        if section.title:
            lines += [f"### {line(section.title)}", ""]
        items = [(line(k), "<br>".join(clean(format_cell(v)).splitlines())) for k, v in section.items[:rows]]
        return [*lines, *[f"- **{k}**: {v}" for k, v in items], ""], len(section.items)
    if section.title:
        lines += [f"### {line(section.title)}", ""]
    headers, cells = grid(section, single_line=False)
    if not cells:
        return [*lines, f"_{line(section.empty)}_", ""], 0
    # Unpadded pipe tables: chat renders them the same, and a chat message's length is the budget.
    lines.append("| " + " | ".join(_md_cell(h) or " " for h in headers) + " |")
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in cells[:rows]]
    return [*lines, ""], len(cells)


def _size(lines: list[str]) -> int:
    return len("\n".join(lines).rstrip("\n")) + 1


def _name(section: Section) -> str:
    from cronctl.output.render import line

    title = getattr(section, "title", None)
    if title:
        return line(title)
    return "a note" if isinstance(section, Text) else "a section"
