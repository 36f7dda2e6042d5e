# man_options.py BINDIR MANDIR: checks that each program's --help and its
# manual page name the same options (test_install.sh).  Both sides are
# parsed from what a user sees: the programs' output, and the pages as
# man(1) renders them (MANWIDTH=200, so that no option is broken across
# lines).  Prints one line a difference; exit 1 if there is one.
#
#   ticketfs: the tags of `ticketfs --help` (the words of a line's option
#     column that start with "-"; "-o NAME=" counts as "-o NAME") against
#     the item tags of ticketfs(8)'s OPTIONS.
#   ticketctl: the commands `ticketctl --help` lists against the items of
#     ticketctl(1)'s COMMANDS, and for each command every "--option"
#     `ticketctl COMMAND -h` names against those its item names; the
#     global options (`--help`'s lines that start with "-") against the
#     item tags of OPTIONS.
import os, re, subprocess, sys

bindir, mandir = sys.argv[1], sys.argv[2]
problems = []


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        problems.append("%s: exit %d" % (" ".join(cmd), p.returncode))
    return p.stdout


def render(page):
    env = dict(os.environ, MANWIDTH="200", LANG="C.UTF-8")
    env.pop("LC_ALL", None)
    out = subprocess.run(["man", "-l", page], capture_output=True,
                         text=True, env=env).stdout
    return re.sub(".\b", "", out)	# overstrike, if any


def sections(text):
    """{SECTION: [lines]} of a rendered page."""
    out, cur = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Z ()0-9.-]*$", line):
            cur = out.setdefault(line.strip(), [])
        elif cur is not None:
            cur.append(line)
    return out


def items(lines):
    """[(tag, [body lines])] of a section's list at indent 5."""
    out = []
    for line in lines:
        if re.match(r"^ {5}\S", line):
            out.append((line[5:], []))
        elif out and line.strip():
            out[-1][1].append(line)
    return out


OPT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def tags(column_text):
    """Options named by option-column text: '-o key=FILE', '-h, --help'."""
    found = set()
    for field in re.split(r"\s{2,}", column_text.strip()):
        if not field.startswith("-"):
            continue
        for name in re.findall(r"-o ([a-z_]+)=", field):
            found.add("-o " + name)
        found |= set(OPT.findall(re.sub(r"-o [a-z_]+=\S*", "", field)))
    return found


def compare(what, in_help, in_man):
    for o in sorted(in_help - in_man):
        problems.append("%s: %s is in --help, not in the manual" % (what, o))
    for o in sorted(in_man - in_help):
        problems.append("%s: %s is in the manual, not in --help" % (what, o))


# ticketfs
helptext = run(os.path.join(bindir, "ticketfs"), "--help")
in_help = set()
for line in helptext.splitlines():
    if re.match(r"^  -", line):
        in_help |= tags(line)
page = sections(render(os.path.join(mandir, "man8", "ticketfs.8")))
in_man = set()
for tag, _ in items(page.get("OPTIONS", [])):
    if tag.startswith("-"):
        in_man |= tags(tag)
if not in_help or not in_man:
    problems.append("ticketfs: no options found (help %d, manual %d)"
                    % (len(in_help), len(in_man)))
compare("ticketfs", in_help, in_man)

# ticketctl
ctl = os.path.join(bindir, "ticketctl")
helptext = run(ctl, "--help")
commands = []
in_help = set()
for line in helptext.splitlines():
    m = re.match(r"^  ([a-z]+)(?: ([a-z]+)\b(?!-))?", line)
    if m:
        commands.append(" ".join(w for w in m.groups() if w))
    elif re.match(r"^  -", line):
        in_help |= tags(line)
page = sections(render(os.path.join(mandir, "man1", "ticketctl.1")))
in_man = set()
for tag, _ in items(page.get("OPTIONS", [])):
    if tag.startswith("-"):
        in_man |= tags(tag)
compare("ticketctl", in_help, in_man)
man_items = {}
for tag, body in items(page.get("COMMANDS", [])):
    name = max((c for c in commands if (tag + " ").startswith(c + " ")),
               key=len, default=tag.split()[0])
    man_items[name] = " ".join([tag] + body)
if len(commands) < 10:
    problems.append("ticketctl --help: only %d commands found" % len(commands))
for c in commands:
    if c not in man_items:
        problems.append("ticketctl %s: in --help, not in the manual" % c)
        continue
    # The command's own usage and text; not the other usages `audit
    # verify -h` appends ("       ticketctl audit prune ...").
    text = "\n".join(l for l in run(ctl, *c.split(), "-h").splitlines()
                     if not re.match(r"^\s+ticketctl ", l))
    compare("ticketctl " + c, set(re.findall(r"(?<![\w-])--[a-z][\w-]*", text)),
            set(re.findall(r"(?<![\w-])--[a-z][\w-]*", man_items[c])))
for c in man_items:
    if c not in commands:
        problems.append("ticketctl %s: in the manual, not in --help" % c)

for p in problems:
    print(p)
print("man_options: %d commands, %d problems" % (len(commands), len(problems)))
sys.exit(1 if problems else 0)
