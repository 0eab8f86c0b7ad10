# herdless_bpf_skeleton(NAME): compiles bpf/NAME.bpf.c with clang -target bpf and generates
# NAME.skel.h with `bpftool gen skeleton` into ${HERDLESS_BPF_OUT}; skeletons are never committed.
find_program(HERDLESS_CLANG clang REQUIRED)
find_program(HERDLESS_BPFTOOL bpftool PATHS /usr/sbin /sbin /usr/local/sbin REQUIRED)
set(HERDLESS_BPF_OUT ${CMAKE_BINARY_DIR}/bpf)
set(HERDLESS_BPF_WARNINGS -Wall)
if(HERDLESS_WERROR)  # errors only in the project's own builds, as for C++
  list(APPEND HERDLESS_BPF_WARNINGS -Werror)
endif()
file(MAKE_DIRECTORY ${HERDLESS_BPF_OUT})

function(herdless_bpf_skeleton name)
  set(src ${CMAKE_SOURCE_DIR}/bpf/${name}.bpf.c)
  set(obj ${HERDLESS_BPF_OUT}/${name}.bpf.o)
  set(skel ${HERDLESS_BPF_OUT}/${name}.skel.h)
  file(GLOB headers ${CMAKE_SOURCE_DIR}/bpf/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${HERDLESS_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 ${HERDLESS_BPF_WARNINGS}
            -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE} -I${CMAKE_SOURCE_DIR}/bpf -c ${src} -o ${obj}
    DEPENDS ${src} ${headers}
    COMMENT "BPF ${name}.bpf.c")
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${HERDLESS_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h")
  add_custom_target(${name}_skeleton DEPENDS ${skel})
endfunction()
