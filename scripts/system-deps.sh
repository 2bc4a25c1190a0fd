#!/usr/bin/env bash
# Checks the system libraries and programs Packetizer needs and installs the missing ones with
# apt-get when running as root; otherwise stops with the exact command to run.
#   scripts/system-deps.sh run    WeasyPrint's Pango stack and fonts; Tesseract 5 OCR with its English model;
#                                 poppler's pdftotext
#   scripts/system-deps.sh test   the above, plus Chromium for the browser tests
#   scripts/system-deps.sh bench  the run set, plus LibreOffice Writer and qpdf: the manual path a clerk
#                                 takes today, which `make bench` times the build against
# Everything comes from the distribution's packages: nothing downloads a model at run time.
set -euo pipefail

want="${1:-run}"

# Tesseract must be version 5 or later and must list the English model (eng.traineddata) among
# its languages; a binary without its model fails only when the first scan is read.
tesseract_problem() {
  command -v tesseract >/dev/null 2>&1 || { echo "no tesseract program"; return; }
  local first version major
  first=$(tesseract --version 2>&1 | head -n 1 || true)
  version=${first#tesseract }
  version=${version#v}
  major=${version%%.*}
  if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 5)); then
    echo "tesseract reports '${first}', Packetizer needs version 5"
    return
  fi
  if ! tesseract --list-langs 2>/dev/null | grep -qx 'eng'; then
    echo "tesseract lists no English model (eng.traineddata)"
  fi
}

find_missing() {
  missing=()
  local libs fonts
  libs=$(ldconfig -p 2>/dev/null || true)
  fonts=$(fc-list 2>/dev/null || true)
  [[ "$libs" == *libpango-1.0.so.0* ]] || missing+=(libpango-1.0-0)
  [[ "$libs" == *libpangoft2-1.0.so.0* ]] || missing+=(libpangoft2-1.0-0)
  [[ "$libs" == *libharfbuzz-subset.so.0* ]] || missing+=(libharfbuzz-subset0)
  [[ "$fonts" == *DejaVuSans* ]] || missing+=(fonts-dejavu-core)
  ocr_problem=$(tesseract_problem)
  [[ -z "$ocr_problem" ]] || missing+=(tesseract-ocr tesseract-ocr-eng)
  # poppler's pdftotext: the second text extractor of every page (trust decision and no-leak proof)
  command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
  if [[ "$want" == "test" ]]; then
    command -v chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  fi
  if [[ "$want" == "bench" ]]; then
    command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-writer-nogui)
    command -v qpdf >/dev/null 2>&1 || missing+=(qpdf)
  fi
}

find_missing
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
  find_missing
  if ((${#missing[@]} == 0)); then
    exit 0
  fi
  echo "still missing after apt-get: ${missing[*]}${ocr_problem:+ ($ocr_problem)}" >&2
  exit 1
fi
echo "Packetizer needs these system packages: ${missing[*]}${ocr_problem:+ ($ocr_problem)}" >&2
echo "Install them with:" >&2
echo "  sudo apt-get install -y ${missing[*]}" >&2
exit 1
