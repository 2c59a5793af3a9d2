#!/usr/bin/env bash
# The Swift SDK bundle for the arm64 cross build: for each sysroot (bookworm, trixie) the arm64 Swift runtime
# from sid's swiftlang:arm64 (usr/libexec/swift/lib/{swift,swift_static,clang}, hard links, with the
# usr/lib/swift{,_static} links the 6.2 driver looks for), and .build/arm64/sdks/panicbridge-arm64.artifactbundle
# with one SDK per sysroot: panicbridge-aarch64-bookworm, panicbridge-aarch64-trixie (ld.lld of the sid compiler).
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD/.build/arm64
runtime=$top/sysroot-sid-runtime
[ -f "$runtime/.panicbridge-ready" ] || { echo "sdk: no $runtime; run scripts/arm64/sysroot.sh sid-runtime" >&2; exit 1; }
compiler=$(chroot "$top/sid" dpkg-query -W -f='${Version}' swiftlang)
if [ "$(cat "$runtime/swiftlang-version")" != "$compiler" ]; then
    echo "sdk: the arm64 runtime is swiftlang $(cat "$runtime/swiftlang-version") but the compiler is $compiler;" \
        "remove .build/arm64/sysroot-sid-runtime and .build/arm64/apt-sid-runtime and run make arm64-toolchain" >&2
    exit 1
fi
# Written beside the current bundle and swapped in only when it differs (a running build reads the current one).
bundle=$top/sdks.new/panicbridge-arm64.artifactbundle
rm -rf "$top/sdks.new"
mkdir -p "$bundle"
artifacts=
for dist in bookworm trixie; do
    sysroot=$top/sysroot-$dist
    [ -f "$sysroot/.panicbridge-ready" ] || { echo "sdk: no $sysroot; run scripts/arm64/sysroot.sh $dist" >&2; exit 1; }
    if [ "$(cat "$sysroot/.swift-runtime" 2>/dev/null)" != "$compiler" ]; then
        rm -rf "$sysroot/usr/libexec/swift"
        mkdir -p "$sysroot/usr/libexec"
        cp -al "$runtime/usr/libexec/swift" "$sysroot/usr/libexec/"
        ln -sfn ../libexec/swift/lib/swift "$sysroot/usr/lib/swift"
        ln -sfn ../libexec/swift/lib/swift_static "$sysroot/usr/lib/swift_static"
        echo "$compiler" > "$sysroot/.swift-runtime"
    fi
    mkdir -p "$bundle/$dist"
    ln -sfn "../../../sysroot-$dist" "$bundle/$dist/sysroot"
    cat > "$bundle/$dist/swift-sdk.json" <<JSON
{
  "schemaVersion": "4.0",
  "targetTriples": {
    "aarch64-unknown-linux-gnu": {
      "sdkRootPath": "sysroot",
      "swiftResourcesPath": "sysroot/usr/lib/swift",
      "swiftStaticResourcesPath": "sysroot/usr/lib/swift_static",
      "toolsetPaths": ["toolset.json"]
    }
  }
}
JSON
    cat > "$bundle/$dist/toolset.json" <<JSON
{
  "schemaVersion": "1.0",
  "rootPath": "/usr/libexec/swift/bin",
  "linker": { "path": "ld.lld" },
  "swiftCompiler": { "extraCLIOptions": ["-use-ld=lld"] }
}
JSON
    artifacts+="${artifacts:+,}
    \"panicbridge-aarch64-$dist\": {
      \"type\": \"swiftSDK\", \"version\": \"$compiler\",
      \"variants\": [{ \"path\": \"$dist\", \"supportedTriples\": [\"x86_64-unknown-linux-gnu\", \"x86_64-pc-linux-gnu\", \"aarch64-unknown-linux-gnu\"] }]
    }"
done
cat > "$bundle/info.json" <<JSON
{
  "schemaVersion": "1.0",
  "artifacts": {$artifacts
  }
}
JSON
if diff -r --no-dereference "$top/sdks.new" "$top/sdks" >/dev/null 2>&1; then
    rm -rf "$top/sdks.new"
else
    rm -rf "$top/sdks"
    mv "$top/sdks.new" "$top/sdks"
fi
echo "Swift SDKs: panicbridge-aarch64-bookworm, panicbridge-aarch64-trixie in $top/sdks/${bundle##*/}"
