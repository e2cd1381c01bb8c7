import math
import time

import pytest

from dreamreel.animator.request.schedule import Schedule, ScheduleError, parse_schedule


def test_bare_numbers_are_constant():
    for text in (1.04, "1.04", " 1.04 ", 2, "-0.5", "1e-3"):
        s = parse_schedule(text, "zoom")
        assert isinstance(s, Schedule)
        assert s.is_constant
        assert s(0) == s(123.5) == float(text)
        assert s.text == str(text)


def test_keyframes_interpolate_linearly_and_hold():
    s = parse_schedule("10:(1.0), 20:(2.0), 40:(0.0)", "zoom")
    assert s.text == "10:(1.0), 20:(2.0), 40:(0.0)"
    assert s.keyframes == (10, 20, 40)
    assert not s.is_constant
    assert s(0) == 1.0 and s(9.5) == 1.0  # hold before the first keyframe
    assert s(10) == 1.0
    assert s(15) == pytest.approx(1.5)
    assert s(17.5) == pytest.approx(1.75)  # fractional frames (cadence)
    assert s(20) == 2.0
    assert s(30) == pytest.approx(1.0)
    assert s(40) == 0.0
    assert s(1000) == 0.0  # hold after the last


def test_values_and_max_f():
    s = parse_schedule("0:(t / max_f)")
    assert s.values(4) == [0.0, 0.25, 0.5, 0.75]
    assert s(3, max_f=6) == 0.5
    assert parse_schedule("0:(0), 10:(10)").values(12) == [float(i) for i in range(11)] + [10.0]


def test_expressions():
    s = parse_schedule("0:(2*sin(t/20))", "angle")
    for t in (0, 7, 31.5):
        assert s(t) == pytest.approx(2 * math.sin(t / 20))
    e = parse_schedule(
        "0: ( 1 + -abs(cos(pi*t)) ** 2 / sqrt(4) + max(t, 3, 1) - min(floor(t), ceil(0.5)) + exp(0) * tan(0) - e + e )"
    )
    t = 2.5
    want = 1 + -abs(math.cos(math.pi * t)) ** 2 / 2 + max(t, 3, 1) - min(math.floor(t), 1) + 0
    assert e(t) == pytest.approx(want)
    # each keyframe's expression is evaluated at the current t, then interpolated
    s = parse_schedule("0:(t), 10:(2*t)")
    assert s(5) == pytest.approx(5 + (10 - 5) * 0.5)
    assert parse_schedule("0:(3), 5:(3)").is_constant
    assert parse_schedule("0:(2*pi)").is_constant


def test_multiline_and_trailing_comma():
    s = parse_schedule("0:(1.0),\n 60:(\n  1.0 + t/60\n),\n", "zoom")
    assert s(60) == pytest.approx(2.0)
    assert s(30) == pytest.approx(1.0 + 0.5 * 0.5)


@pytest.mark.parametrize(
    "text, position, words",
    [
        ("0 (1.0)", 2, "expected ':'"),
        ("0:1.0", 2, "expected '('"),
        ("0:(1.0, 10:(2)", 2, "unbalanced"),
        ("0:(1.0)), 10:(2)", 7, "unbalanced ')'"),
        ("0:(sin(t)", 2, "unbalanced"),
        ("0:(1), 10:(2), 5:(3)", 15, "must increase"),
        ("0:(1), 10:(2), 10:(3)", 15, "must increase"),
        ("0:(1), 10:(foo(t))", 11, "unknown function 'foo'"),
        ("0:(1), 10:(2 * x)", 15, "unknown name 'x'"),
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("0:()", 3, "empty expression"),
        ("0:(1 +)", 6, "invalid expression"),
        ("0:(1 2)", 5, "invalid expression"),
        ("-5:(1)", 0, "negative"),
        ("0:(1) 5:(2)", 6, "expected ','"),
        ("0:(t), 5:(  max(t, key=2))", 19, "keyword"),
        ("0:(t), 5:(sin(t, t))", 10, "1 argument"),
        ("0:(1/0)", 3, "division by zero"),
        ("0:(10 ** 400)", 3, "overflow"),
        ("0:(π)", 3, "unknown name"),
    ],
)
def test_errors_give_position(text, position, words):
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text, "zoom")
    err = info.value
    assert isinstance(err, ValueError)
    assert err.position == position, str(err)
    msg = str(err)
    assert "\n" not in msg
    assert msg.startswith("zoom: ")
    assert words in msg
    assert f"at position {position} in " in msg
    assert msg.endswith('"' + text.replace("\n", "\\n") + '"')


def test_error_message_format():
    with pytest.raises(ScheduleError, match=r'^zoom: expected \':\' after frame number at position 2 in "0 \(1.0\)"$'):
        parse_schedule("0 (1.0)", "zoom")


def test_runtime_errors_name_the_frame():
    s = parse_schedule("0:(1), 10:(1/(t-12))", "tx")  # parses: depends on t
    assert s(11) == pytest.approx(-1.0)
    with pytest.raises(ScheduleError, match=r"^tx: division by zero at frame 12 at position 11 "):
        s(12)
    s = parse_schedule("0:(exp(t))", "zoom")
    with pytest.raises(ScheduleError, match="overflow at frame 1000"):
        s(1000)
    with pytest.raises(ScheduleError, match="frame 3"):
        parse_schedule("0:(sqrt(2 - t))")(3)
    with pytest.raises(ScheduleError):
        parse_schedule("0:((t - 5) ** 0.5)")(0)  # would be complex: rejected, not returned
    with pytest.raises(ScheduleError, match="inf"):
        parse_schedule("0:(1e300 * 1e300 * t)")(1)


def test_huge_integer_powers_do_not_hang():
    t0 = time.perf_counter()
    with pytest.raises(ScheduleError, match="overflow"):
        parse_schedule("0:(9**9**9)")
    with pytest.raises(ScheduleError, match="overflow"):
        parse_schedule("0:(t**t**t)")(9)
    assert time.perf_counter() - t0 < 0.5


@pytest.mark.parametrize(
    "expr, position, words",
    [
        ("__import__('os').system('x')", 16, "attribute access"),
        ("__import__('os')", 0, "unknown function '__import__'"),
        ("t.__class__", 1, "attribute access"),
        ("(1).real", 3, "attribute access"),
        ("[1][0]", 0, "subscripts"),
        ('"a"', 0, "strings"),
        ("lambda: 1", 0, "lambda"),
        ("[t for t in (1, 2)][0]", 0, "subscripts"),
        ("max(*[1, 2])", 4, "'*' unpacking"),
        ("sin(t) if t else 1", 0, "'if'/'else'"),
        ("t > 1", 0, "comparisons"),
        ("(x := 3)", 1, "':='"),
        ("f'{t}'", 0, "f-strings"),
        ("True", 0, "bool literals"),
        ("sin", 0, "must be called"),
        ("t @ t", 0, "MatMult"),
        ("t // 2", 0, "FloorDiv"),
        ("~1", 0, "UnaryOp"),
    ],
)
def test_unsafe_expressions_are_rejected(expr, position, words):
    import builtins

    def boom(*a, **k):
        raise AssertionError("executed user code")

    text = f"0:(1), 10:({expr})"
    err = None
    saved = {k: getattr(builtins, k) for k in ("eval", "exec", "__import__")}
    try:
        for k in saved:  # any of these firing would mean user text reached Python
            setattr(builtins, k, boom)
        parse_schedule(text, "angle")
    except ScheduleError as exc:
        err = exc
    finally:
        for k, v in saved.items():
            setattr(builtins, k, v)
    assert err is not None, "not rejected"
    assert words in str(err), str(err)
    assert err.position == 11 + position, str(err)
    # the bare forms (no keyframe syntax) are rejected too
    with pytest.raises(ScheduleError):
        parse_schedule(expr, "angle")


def test_non_text_inputs():
    for bad in (None, [1.0], True, float("nan"), float("inf"), "nan", "inf"):
        with pytest.raises(ScheduleError):
            parse_schedule(bad, "zoom")


def test_evaluation_is_fast():
    s = parse_schedule("0:(1.0), 100:(1.0 + 0.02*sin(2*pi*t/max_f)), 200:(abs(cos(t/7)) + 1)", "zoom")
    t0 = time.perf_counter()
    vals = s.values(20000)
    assert time.perf_counter() - t0 < 0.5
    assert len(vals) == 20000 and all(math.isfinite(v) for v in vals)
