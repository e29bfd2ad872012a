"""The commands' terminal output with rich: wide characters measured, long cells cut, markup
left alone, progress bars driven by the model code's callbacks, and nothing on a pipe."""

from __future__ import annotations

import io

from rich.cells import cell_len

from inboxd.commands.terminal import clipped, console, progress_bar, show, table, working


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a real one does."""

    def isatty(self) -> bool:
        return True


def rendered(headers: list[str], rows: list[list[str]], widths: dict[str, int] | None = None) -> list[str]:
    out = io.StringIO()
    console(out).print(table(headers, rows, widths))
    return out.getvalue().splitlines()


def test_columns_line_up_after_chinese_text() -> None:
    lines = rendered(["subject", "n"], [["订单什么时候到", "1"], ["abc", "2"], ["Åsa ñ", "3"]])
    starts = {cell_len(line[:line.rindex(n)]) for line, n in zip(lines[2:], "123")}
    assert len(starts) == 1  # the second column starts at the same terminal column
    assert starts == {cell_len("订单什么时候到") + 2}


def test_long_cells_are_cut_to_their_width_with_an_ellipsis() -> None:
    lines = rendered(["subject", "lang"], [["很长的主题" * 10, "zh"], ["short", "en"]],
                     {"subject": 12})
    cut = lines[2].split("zh")[0].rstrip()
    assert cut.endswith("…") and cell_len(cut) <= 12
    assert clipped("订单" * 40, 10).endswith("…") and cell_len(clipped("订单" * 40, 10)) <= 10
    assert clipped("a\n  b", 10) == "a b"


def test_brackets_print_as_they_are() -> None:
    lines = rendered(["subject"], [["[#12] [bold]Re: order[/bold]"]])
    assert "[#12] [bold]Re: order[/bold]" in lines[2]


def test_progress_bar_follows_the_callback_on_a_terminal() -> None:
    screen = Terminal()
    with progress_bar("training", screen) as progress:
        for done in range(4):
            progress(done, 3)
    assert "training" in screen.getvalue() and "3/3" in screen.getvalue()


def test_no_progress_bar_on_a_pipe() -> None:
    pipe = io.StringIO()
    with progress_bar("training", pipe) as progress:
        progress(1, 3)
    with working("evaluating", pipe):
        pass
    assert pipe.getvalue() == ""


def test_piped_tables_have_no_trailing_blanks() -> None:
    pipe = io.StringIO()
    show(table(["subject", "why"], [["a", "a longer reason"], ["a much longer subject", "b"]]),
         "done", stream=pipe)
    lines = pipe.getvalue().splitlines()
    assert lines[-1] == "done" and lines[3].endswith(" b")
    assert all(line == line.rstrip() for line in lines)
