"""Approval routes as data: steps in order, each with its approvers and a mode.

    steps:
      - name: Руководитель отдела
        approvers: [requester_head]        # who decides (see APPROVER_WORDS)
        mode: one                          # one | all (every approver) | any (the first)
        deadline: 1 working day            # a reminder and an escalation when it passes
      - name: Директор
        approvers: [director]
    rework: restart                        # restart | step: where a resubmission starts

A route is written inline in `start_approval` (`steps`, `rework`) or once at the top of a
definition under `routes: {name: {steps, rework}}` and named (`route: name`). Pure: the
checks return (path, Russian problem) or None."""
from __future__ import annotations

from rules.durations import DurationError, parse_duration

MODES = ("one", "all", "any")
REWORK = ("restart", "step")
# Approvers by position in the company, resolved when the step starts.
APPROVER_WORDS = {
    "requester_head": "руководитель отдела автора",
    "responsible_head": "руководитель ответственного",
    "director": "директор",
    "accountant": "бухгалтер",
    "responsible": "ответственный",
    "requester": "автор",
}
APPROVER_KEYS = ("role", "user", "field", "chosen")
STEP_KEYS = {"name", "approvers", "mode", "deadline"}
ROUTE_KEYS = {"steps", "rework"}
MAX_STEPS = 20


def approver_problem(spec, labels, roles) -> str | None:
    if isinstance(spec, str):
        return None if spec in APPROVER_WORDS else (
            f"неизвестный согласующий «{spec}»; допустимы: "
            + ", ".join(APPROVER_WORDS) + " или {role|user|field|chosen: ...}")
    if not isinstance(spec, dict) or len(spec) != 1:
        return "ожидается слово (director, requester_head...) или один ключ role, user, " \
               "field, chosen"
    (kind, arg), = spec.items()
    if kind in ("role", "chosen"):
        return None if arg in roles else f"неизвестная роль «{arg}»"
    if kind == "user":
        return None if isinstance(arg, str) and arg else "укажите логин пользователя"
    if kind == "field":
        return None if arg in labels else f"неизвестное поле «{arg}»"
    return f"неизвестный вид согласующего «{kind}»"


def step_problem(step, labels, roles) -> tuple[str, str] | None:
    if not isinstance(step, dict):
        return "", "шаг должен быть объектом с ключами name, approvers, mode, deadline"
    for key in step:
        if key not in STEP_KEYS:
            return key, "неизвестный ключ; допустимы: " + ", ".join(sorted(STEP_KEYS))
    if "name" in step and not (isinstance(step["name"], str) and step["name"].strip()):
        return "name", "ожидается название шага"
    approvers = step.get("approvers")
    if not isinstance(approvers, list) or not approvers:
        return "approvers", "укажите хотя бы одного согласующего"
    for i, spec in enumerate(approvers):
        problem = approver_problem(spec, labels, roles)
        if problem:
            return f"approvers[{i}]", problem
    mode = step.get("mode", "one")
    if mode not in MODES:
        return "mode", f"неизвестный режим «{mode}»; допустимы: " + ", ".join(MODES)
    if "deadline" in step:
        try:
            duration = parse_duration(step["deadline"])
        except DurationError as exc:
            return "deadline", str(exc)
        if duration.amount <= 0:
            return "deadline", "срок шага должен быть больше нуля"
    return None


def route_problem(route, labels, roles) -> tuple[str, str] | None:
    """{steps: [...], rework?}: None or (path, problem)."""
    if not isinstance(route, dict):
        return "", "маршрут должен быть объектом с ключами steps и rework"
    for key in route:
        if key not in ROUTE_KEYS:
            return key, "неизвестный ключ; допустимы: steps, rework"
    steps = route.get("steps")
    if not isinstance(steps, list) or not steps:
        return "steps", "маршрут должен содержать хотя бы один шаг"
    if len(steps) > MAX_STEPS:
        return "steps", f"не больше {MAX_STEPS} шагов"
    for i, step in enumerate(steps):
        problem = step_problem(step, labels, roles)
        if problem:
            return f"steps[{i}]" + (f".{problem[0]}" if problem[0] else ""), problem[1]
    if route.get("rework", "restart") not in REWORK:
        return "rework", "ожидается restart (с первого шага) или step (с вернувшего шага)"
    return None


def normalized(route: dict) -> dict:
    """The route as an approval keeps it: every step named and with its mode."""
    steps = []
    for i, step in enumerate(route["steps"]):
        steps.append({"name": step.get("name") or f"Шаг {i + 1}",
                      "approvers": list(step["approvers"]), "mode": step.get("mode", "one"),
                      "deadline": step.get("deadline")})
    return {"steps": steps, "rework": route.get("rework", "restart")}
