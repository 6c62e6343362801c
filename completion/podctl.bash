# SPDX-License-Identifier: Apache-2.0
# bash completion for podctl(1): commands, subcommands, flags, output formats,
# files after -f, and pod and container names asked of the running podd.
# Needs nothing but bash (no bash-completion helpers).

# The podctl being completed, with the --socket given on the command line.
_podctl_run()
{
    "${_podctl_cmd[@]}" "$@" 2>/dev/null
}

_podctl_pods()
{
    local line
    while IFS= read -r line; do
        [[ $line == pod/* ]] && printf '%s\n' "${line#pod/}"
    done < <(_podctl_run get pods -o name)
}

# Words of $1 (separated by blanks or newlines) that begin with $cur.
_podctl_reply()
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_podctl_files()
{
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

_podctl()
{
    local cur="${COMP_WORDS[COMP_CWORD]}" prev=""
    local cmd="" i w
    local -a _podctl_cmd=("${COMP_WORDS[0]}") args=()

    ((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
    COMPREPLY=()

    # Global options, then the command.
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        case "$w" in
        --socket)
            ((i + 1 < COMP_CWORD)) && _podctl_cmd+=(--socket "${COMP_WORDS[i + 1]}")
            ((i++))
            ;;
        --socket=*) _podctl_cmd+=("$w") ;;
        -*) ;;
        *)
            cmd="$w"
            break
            ;;
        esac
    done

    if [[ -z $cmd ]]; then
        case "$prev" in
        --socket) _podctl_files ;;
        *)
            if [[ $cur == -* ]]; then
                _podctl_reply "--socket --help"
            else
                _podctl_reply "apply delete restart get describe logs events image validate graph version"
            fi
            ;;
        esac
        return 0
    fi

    # The command's positional arguments before the word being completed.
    for ((i++; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        case "$w" in
        -f | -o | -c | --tail | --since | --output | --filename | --container)
            [[ $cmd == logs && $w == -f ]] || ((i++))
            ;;
        --socket)
            ((i + 1 < COMP_CWORD)) && _podctl_cmd+=(--socket "${COMP_WORDS[i + 1]}")
            ((i++))
            ;;
        -*) ;;
        *) args+=("$w") ;;
        esac
    done

    case "$cmd" in
    apply)
        case "$prev" in
        -f) _podctl_files ;;
        *) [[ $cur == -* ]] && _podctl_reply "-f --dry-run --wait --wait= --help" ;;
        esac
        ;;
    delete)
        if [[ $prev == -f ]]; then
            _podctl_files
        elif [[ $cur == -* ]]; then
            _podctl_reply "-f --help"
        elif ((${#args[@]} == 0)); then
            _podctl_reply "pod"
        elif [[ ${args[0]} == pod || ${args[0]} == pods ]]; then
            _podctl_reply "$(_podctl_pods)"
        fi
        ;;
    restart | describe)
        if [[ $cur == -* ]]; then
            _podctl_reply "--help"
        elif ((${#args[@]} == 0)); then
            _podctl_reply "pod"
        elif ((${#args[@]} == 1)) || [[ $cmd == describe ]]; then
            _podctl_reply "$(_podctl_pods)"
        fi
        ;;
    get)
        if [[ $prev == -o || $prev == --output ]]; then
            _podctl_reply "wide json yaml name"
        elif [[ $cur == -* ]]; then
            _podctl_reply "-o --output --help"
        elif ((${#args[@]} == 0)); then
            _podctl_reply "pods pod"
        else
            _podctl_reply "$(_podctl_pods)"
        fi
        ;;
    logs)
        case "$prev" in
        -c | --container)
            ((${#args[@]} >= 1)) && _podctl_reply "$(_podctl_run __complete containers "${args[0]}")"
            ;;
        --tail | --since) ;;
        *)
            if [[ $cur == -* ]]; then
                _podctl_reply "-c -f --tail --since --previous --timestamps --help"
            elif ((${#args[@]} == 0)); then
                _podctl_reply "$(_podctl_pods)"
            fi
            ;;
        esac
        ;;
    events)
        if [[ $cur == -* ]]; then
            _podctl_reply "-w --help"
        elif ((${#args[@]} == 0)); then
            _podctl_reply "$(_podctl_pods)"
        fi
        ;;
    image)
        if [[ ${args[0]:-} == load && ($prev == -i || $prev == --input) ]]; then
            _podctl_files
        elif [[ ${args[0]:-} == pull && ($prev == --registries || $prev == --auth) ]]; then
            _podctl_files
        elif [[ $cur == -* ]]; then
            case "${args[0]:-}" in
            load) _podctl_reply "-i --input --help" ;;
            pull) _podctl_reply "--registries --auth --help" ;;
            *) _podctl_reply "--help" ;;
            esac
        elif ((${#args[@]} == 0)); then
            _podctl_reply "load import ls inspect pull rm prune"
        elif [[ ${args[0]} == import ]] && ((${#args[@]} == 2)); then
            _podctl_files
        fi
        ;;
    validate | graph)
        case "$prev" in
        -o | --output)
            if [[ $cmd == validate ]]; then _podctl_reply "text json"; else _podctl_reply "text dot"; fi
            ;;
        -f | --filename) _podctl_files ;;
        *)
            if [[ $cur == -* ]]; then
                _podctl_reply "-f --filename -o --output --help"
            elif [[ $cmd == validate ]]; then
                _podctl_files
            fi
            ;;
        esac
        ;;
    version)
        [[ $cur == -* ]] && _podctl_reply "--help"
        ;;
    esac
    return 0
}

complete -F _podctl podctl
