#!/usr/bin/env bash
# mkman.sh PAGE OUT INPUT VERSION: writes a man page (roff) generated from the same
# text the user sees elsewhere, so the two cannot drift:
#   fleetarc.1       from `INPUT --help` and `INPUT COMMAND --help` of every command
#   fleetarc-sim.1   from `INPUT --help`
#   fleetarc.yaml.5  from the commented reference configuration INPUT (conf/fleetarc.yaml)
# The build runs it (CMakeLists.txt: target man); the packaging test checks the result.
set -euo pipefail
page=$1 out=$2 input=$3 version=$4

# verbatim: stdin as a no-fill block, with roff's special characters escaped.
verbatim() {
  echo ".nf"
  sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
  echo ".fi"
}

tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
case $page in
fleetarc.1)
  help=$("$input" --help)
  commands=$(printf '%s\n' "$help" | awk '/^commands:/{f=1;next} f&&/^  [a-z]/{print $1} f&&/^$/{exit}')
  [ -n "$commands" ] || { echo "mkman: no commands in $input --help" >&2; exit 1; }
  {
    echo ".TH FLEETARC 1 \"\" \"fleetarc $version\" \"fleetarc manual\""
    echo ".SH NAME"
    echo "fleetarc \\- archive a fleet's GPS history from the Open API into PostgreSQL"
    echo ".SH SYNOPSIS"
    echo ".B fleetarc"
    echo "[\\-c FILE] COMMAND [options]"
    echo ".br"
    echo ".B fleetarc"
    echo "COMMAND \\-\\-help"
    echo ".SH DESCRIPTION"
    echo "The text of \\fBfleetarc \\-\\-help\\fR:"
    printf '%s\n' "$help" | verbatim
    echo ".SH COMMANDS"
    echo "The text of \\fBfleetarc\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR for each command."
    for c in $commands; do
      echo ".SS $c"
      "$input" "$c" --help | verbatim
    done
    cat <<'ROFF'
.SH FILES
.TP
.I /etc/fleetarc/fleetarc.yaml
The configuration (\fB\-c\fR and \fB$FLEETARC_CONFIG\fR choose another); see
\fBfleetarc.yaml\fR(5). Readable by the group \fBfleetarc\fR: add the users who run
commands to it.
.TP
.I /etc/fleetarc/password
The API password (root:fleetarc 0640): the unit gets it with \fBLoadCredential=\fR,
the commands run by members of the group \fBfleetarc\fR read it directly; see
\fBpassword_file\fR in \fBfleetarc.yaml\fR(5). Commands that never log in (\fBcheck
\-\-offline\fR, \fBmigrate\fR, \fBreport\fR, \fBexport\fR, \fBretention\fR) do not need it.
.TP
.I /usr/share/fleetarc/sql/
The schema migrations (also embedded in the binary: \fBfleetarc migrate\fR needs no file).
.TP
.I /usr/share/fleetarc/roles.sql
The database roles: the writer \fBfleetarc\fR and the read\-only \fBfleetarc_reporter\fR.
.TP
.I /usr/share/doc/fleetarc/
README.md, README.deploy.md and the reference configuration.
.SH ENVIRONMENT
.TP
.B FLEETARC_CONFIG
The configuration file when \fB\-c\fR is not given.
.TP
.B PGHOST, PGPORT, PGUSER, PGDATABASE, ...
Fill in what \fBdatabase.conninfo\fR leaves out (libpq).
.SH SEE ALSO
\fBfleetarc.yaml\fR(5), \fBfleetarc\-sim\fR(1), \fBsystemctl\fR(1) (the unit \fBfleetarc.service\fR)
ROFF
  } >"$tmp"
  ;;
fleetarc-sim.1)
  {
    echo ".TH FLEETARC\\-SIM 1 \"\" \"fleetarc $version\" \"fleetarc manual\""
    echo ".SH NAME"
    echo "fleetarc\\-sim \\- a simulator of the tracking platform's Open API"
    echo ".SH SYNOPSIS"
    echo ".B fleetarc\\-sim"
    echo "\\-\\-listen HOST:PORT \\-\\-devices N [options]"
    echo ".SH DESCRIPTION"
    echo "The text of \\fBfleetarc\\-sim \\-\\-help\\fR:"
    "$input" --help | verbatim
    echo ".SH SEE ALSO"
    echo "\\fBfleetarc\\fR(1), \\fBfleetarc.yaml\\fR(5)"
  } >"$tmp"
  ;;
fleetarc.yaml.5)
  {
    echo ".TH FLEETARC.YAML 5 \"\" \"fleetarc $version\" \"fleetarc manual\""
    echo ".SH NAME"
    echo "fleetarc.yaml \\- the configuration of fleetarc"
    echo ".SH SYNOPSIS"
    echo ".I /etc/fleetarc/fleetarc.yaml"
    echo ".SH DESCRIPTION"
    echo "YAML. What follows is the complete reference: every key, with its default and"
    echo "what it does (the file installed as"
    echo ".I /usr/share/doc/fleetarc/fleetarc.yaml"
    echo "and, unless already present, as"
    echo ".IR /etc/fleetarc/fleetarc.yaml )."
    echo "Check a file with \\fBfleetarc \\-c\\fR \\fIFILE\\fR \\fBcheck \\-\\-offline\\fR."
    echo ".SH REFERENCE"
    verbatim <"$input"
    echo ".SH SEE ALSO"
    echo "\\fBfleetarc\\fR(1)"
  } >"$tmp"
  ;;
*) echo "mkman: unknown page $page" >&2; exit 2 ;;
esac
mv "$tmp" "$out"
trap - EXIT
