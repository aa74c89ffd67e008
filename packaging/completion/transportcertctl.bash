# bash completion for transportcertctl(1): commands, options, services, and the thumbprints of
# the certificates the daemon holds (asked from the daemon with transportcertctl itself, on the
# bus or host the command line names).

_transportcertctl_thumbprints() {
	local -a bus=("$@")
	transportcertctl "${bus[@]}" --json=short --no-pager list 2>/dev/null |
		grep -o '"thumbprint":"[0-9A-F]\{40\}"' | cut -d'"' -f4
}

# COMPREPLY from compgen ARGS..., one word per line (file names may hold spaces).
_transportcertctl_reply() {
	mapfile -t COMPREPLY < <(compgen "$@")
}

_transportcertctl() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="status list show select explain enable disable import remove renew
		new-self-signed reload tlsa verify"
	local services="SMTP IMAP POP HTTP"
	local options="--help --version --bus= --host= -H --json= --no-legend --no-pager"
	COMPREPLY=()

	case $prev in
	--bus) _transportcertctl_reply -W "system session" -- "$cur"; return ;;
	--json) _transportcertctl_reply -W "pretty short" -- "$cur"; return ;;
	-H | --host) _transportcertctl_reply -A hostname -- "$cur"; return ;;
	--endpoint)
		_transportcertctl_reply -W "25/smtp 587/smtp 465/smtps 143/imap 993/imaps 110/pop3 995/pop3s" -- "$cur"
		return ;;
	--services)
		local done=${cur%"${cur##*,}"}
		_transportcertctl_reply -P "$done" -W "$services" -- "${cur##*,}"
		return ;;
	esac
	case $cur in
	--bus=*) _transportcertctl_reply -W "system session" -- "${cur#--bus=}"; return ;;
	--json=*) _transportcertctl_reply -W "pretty short" -- "${cur#--json=}"; return ;;
	esac

	# The command, its arguments so far, and the options that choose the bus.
	local command="" i word
	local -a args=() bus=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		case $word in
		--bus | -H | --host) bus+=("$word" "${COMP_WORDS[i+1]}"); ((i++)) ;;
		--bus=* | --host=* | -H?*) bus+=("$word") ;;
		--services | --endpoint) ((i++)) ;;
		-*) ;;
		*) if [[ -z $command ]]; then command=$word; else args+=("$word"); fi ;;
		esac
	done

	if [[ $cur == -* ]]; then
		case $command in
		enable) options+=" --internal-transport" ;;
		import) options+=" --services" ;;
		verify) options+=" --endpoint --journal" ;;
		esac
		_transportcertctl_reply -W "$options" -- "$cur"
		[[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
		return
	fi
	if [[ -z $command ]]; then
		_transportcertctl_reply -W "$commands" -- "$cur"
		return
	fi
	case $command in
	show | remove)
		((${#args[@]} == 0)) &&
			_transportcertctl_reply -W "$(_transportcertctl_thumbprints "${bus[@]}")" -- "${cur^^}" ;;
	enable | disable)
		if ((${#args[@]} == 0)); then
			_transportcertctl_reply -W "$(_transportcertctl_thumbprints "${bus[@]}")" -- "${cur^^}"
		else
			_transportcertctl_reply -W "$services" -- "${cur^^}"
		fi ;;
	select | explain)
		((${#args[@]} == 1)) && _transportcertctl_reply -W "$services" -- "${cur^^}" ;;
	import)
		_transportcertctl_reply -f -- "$cur"
		compopt -o filenames 2>/dev/null ;;
	esac
}

complete -F _transportcertctl transportcertctl
