import io

from mme_node.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_shows_done_out_of_total_on_a_terminal() -> None:
    screen = Terminal()
    with ProgressBar("importing", total=4, stream=screen, min_interval=0) as bar:
        bar.advance(2)
    assert "importing" in screen.getvalue()
    assert "2/4" in screen.getvalue()


def test_bar_writes_nothing_when_not_a_terminal() -> None:
    log = io.StringIO()
    with ProgressBar("importing", total=4, stream=log, min_interval=0) as bar:
        bar.advance(4)
    assert log.getvalue() == ""
    assert bar.done == 4
