#!/usr/bin/python3
"""Reads aifx's metadata from Python with plain PyGObject (Debian: python3-gi, gir1.2-gstreamer-1.0).

    GST_PLUGIN_PATH=target/release /usr/bin/python3 examples/read_metadata.py [picture.jpg]

Runs `segment effect=none ! pose draw=false post-messages=true` on a picture and prints, for
the one frame: the mask (AifxMaskMeta) and every person's landmarks (AifxPoseMeta), then the
same landmarks from pose's `aifx-pose` bus message. Both metas are GStreamer custom metas: a
GstStructure per buffer, read with Gst.Buffer.get_custom_meta(). The message's
`person-K-landmarks` arrays are GstValueArray, which plain PyGObject cannot convert, so it
reads `person-K-data`: the same values as little-endian f32 bytes (score, 33 x 5 landmark
values, 33 x 3 world values), like the meta.

AifxMaskMeta fields: width, height (uint), data (bytes: width*height person probabilities
0-255, row-major), frame-width, frame-height (uint: the frame the mask is stretched over),
inferred (bool: the model ran on this buffer).

AifxPoseMeta fields: persons (uint), inferred (bool), frame-width, frame-height (uint: the frame
the pixel coordinates refer to), ids (bytes: one little-endian u64 per person), sizes (bytes:
one little-endian f32 per person: the side of its tracking square in frame pixels), data (bytes:
per person 199 little-endian f32 = score, 33 x [x, y, z, visibility, presence] in frame pixels,
33 x [x, y, z] world landmarks in metres). Landmark order is MediaPipe's (LANDMARKS below).
"""
import struct
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

LANDMARKS = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
]
VALUES_PER_PERSON = 1 + 33 * 5 + 33 * 3


def read_mask(buf):
    meta = buf.get_custom_meta("AifxMaskMeta")
    if meta is None:
        return None
    s = meta.get_structure()
    w, h = s.get_value("width"), s.get_value("height")
    data = s.get_value("data").get_data()
    assert len(data) == w * h
    return {
        "width": w,
        "height": h,
        "frame": (s.get_value("frame-width"), s.get_value("frame-height")),
        "person_share": sum(1 for v in data if v >= 128) / (w * h),
    }


def read_pose(buf):
    meta = buf.get_custom_meta("AifxPoseMeta")
    if meta is None:
        return None
    s = meta.get_structure()
    n = s.get_value("persons")
    data = s.get_value("data").get_data()
    ids = struct.unpack("<%dQ" % n, s.get_value("ids").get_data())
    sizes = struct.unpack("<%df" % n, s.get_value("sizes").get_data())
    values = struct.unpack("<%df" % (n * VALUES_PER_PERSON), data)
    persons = []
    for k in range(n):
        v = values[k * VALUES_PER_PERSON:(k + 1) * VALUES_PER_PERSON]
        landmarks = {
            name: v[1 + 5 * i:1 + 5 * i + 5] for i, name in enumerate(LANDMARKS)
        }
        persons.append({"id": ids[k], "score": v[0], "size": sizes[k], "landmarks": landmarks})
    return {
        "frame": (s.get_value("frame-width"), s.get_value("frame-height")),
        "persons": persons,
    }


def read_message(msg):
    s = msg.get_structure()
    persons = []
    for k in range(s.get_value("persons")):
        v = struct.unpack("<%df" % VALUES_PER_PERSON,
                          s.get_value("person-%d-data" % k).get_data())
        persons.append({"id": s.get_value("person-%d-id" % k), "nose": v[1:6]})
    return {
        "running_time": s.get_value("running-time"),
        "frame": (s.get_value("frame-width"), s.get_value("frame-height")),
        "persons": persons,
    }


def main():
    picture = sys.argv[1] if len(sys.argv) > 1 else \
        "/usr/share/doc/opencv-doc/examples/data/messi5.jpg"
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f'filesrc location="{picture}" ! jpegdec ! videoconvert ! '
        "segment effect=none ! pose draw=false post-messages=true ! appsink name=out"
    )
    sink = pipeline.get_by_name("out")
    pipeline.set_state(Gst.State.PLAYING)
    sample = sink.emit("pull-sample")
    message = pipeline.get_bus().timed_pop_filtered(
        10 * Gst.SECOND, Gst.MessageType.ELEMENT)
    pipeline.set_state(Gst.State.NULL)
    if sample is None:
        sys.exit("no frame came out (is GST_PLUGIN_PATH set to aifx's target/release?)")
    buf = sample.get_buffer()
    mask, pose = read_mask(buf), read_pose(buf)
    if mask is None or pose is None:
        sys.exit("the buffer has no aifx metadata")
    print("mask %dx%d over frame %dx%d, person share %.3f" % (
        mask["width"], mask["height"], mask["frame"][0], mask["frame"][1],
        mask["person_share"]))
    print("pose over frame %dx%d: %d person(s)" % (pose["frame"] + (len(pose["persons"]),)))
    for p in pose["persons"]:
        x, y, _z, vis, _pres = p["landmarks"]["nose"]
        print("person %d score %.3f nose %.2f %.2f visibility %.3f" % (
            p["id"], p["score"], x, y, vis))
    if message is None or not message.get_structure().has_name("aifx-pose"):
        sys.exit("no aifx-pose message")
    m = read_message(message)
    for p in m["persons"]:
        print("message at running time %d ns, frame %dx%d: person %d nose %.2f %.2f" % (
            (m["running_time"],) + m["frame"] + (p["id"], p["nose"][0], p["nose"][1])))


if __name__ == "__main__":
    main()
