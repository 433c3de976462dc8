/* Reads aifx's metadata from C: the person mask (AifxMaskMeta) and the landmarks
 * (AifxPoseMeta) of one frame. Both are GStreamer custom metas (a GstStructure per buffer;
 * field layout in examples/read_metadata.py and the README).
 *
 *   cc examples/read_metadata.c -o read_metadata \
 *      $(pkg-config --cflags --libs gstreamer-1.0 gstreamer-app-1.0)
 *   GST_PLUGIN_PATH=target/release ./read_metadata [picture.jpg]
 */
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>

#define VALUES_PER_PERSON (1 + 33 * 5 + 33 * 3)

static void print_mask(GstBuffer *buf) {
  GstCustomMeta *meta = gst_buffer_get_custom_meta(buf, "AifxMaskMeta");
  if (!meta) {
    printf("no mask\n");
    return;
  }
  GstStructure *s = gst_custom_meta_get_structure(meta);
  guint w = 0, h = 0, fw = 0, fh = 0;
  const GValue *v = gst_structure_get_value(s, "data");
  gst_structure_get_uint(s, "width", &w);
  gst_structure_get_uint(s, "height", &h);
  gst_structure_get_uint(s, "frame-width", &fw);
  gst_structure_get_uint(s, "frame-height", &fh);
  gsize size = 0;
  const guint8 *data = g_bytes_get_data(g_value_get_boxed(v), &size);
  guint person = 0;
  for (gsize i = 0; i < size; i++)
    person += data[i] >= 128;
  printf("mask %ux%u over frame %ux%u, person share %.3f\n", w, h, fw, fh,
         size ? (double)person / size : 0.0);
}

static void print_pose(GstBuffer *buf) {
  GstCustomMeta *meta = gst_buffer_get_custom_meta(buf, "AifxPoseMeta");
  if (!meta) {
    printf("no pose\n");
    return;
  }
  GstStructure *s = gst_custom_meta_get_structure(meta);
  guint n = 0, fw = 0, fh = 0;
  gst_structure_get_uint(s, "persons", &n);
  gst_structure_get_uint(s, "frame-width", &fw);
  gst_structure_get_uint(s, "frame-height", &fh);
  gsize size = 0, id_size = 0;
  const guint8 *data =
      g_bytes_get_data(g_value_get_boxed(gst_structure_get_value(s, "data")), &size);
  const guint8 *ids =
      g_bytes_get_data(g_value_get_boxed(gst_structure_get_value(s, "ids")), &id_size);
  printf("pose over frame %ux%u: %u person(s)\n", fw, fh, n);
  if (size != (gsize)n * VALUES_PER_PERSON * 4 || id_size != (gsize)n * 8)
    return;
  for (guint k = 0; k < n; k++) {
    /* Little-endian f32 and u64 (x86-64 and ARM are little-endian: memcpy suffices). */
    float v[VALUES_PER_PERSON];
    guint64 id;
    memcpy(v, data + (gsize)k * VALUES_PER_PERSON * 4, sizeof v);
    memcpy(&id, ids + (gsize)k * 8, sizeof id);
    /* Landmark 0 is the nose: [x, y, z, visibility, presence] after the score. */
    printf("person %llu score %.3f nose %.2f %.2f visibility %.3f\n",
           (unsigned long long)id, v[0], v[1], v[2], v[4]);
  }
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  const char *picture =
      argc > 1 ? argv[1] : "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
  gchar *desc = g_strdup_printf(
      "filesrc location=\"%s\" ! jpegdec ! videoconvert ! segment effect=none ! "
      "pose draw=false ! appsink name=out",
      picture);
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch(desc, &err);
  g_free(desc);
  if (!pipeline) {
    fprintf(stderr, "%s\n", err->message);
    return 1;
  }
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstSample *sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
  int rc = 0;
  if (sample) {
    GstBuffer *buf = gst_sample_get_buffer(sample);
    print_mask(buf);
    print_pose(buf);
    gst_sample_unref(sample);
  } else {
    fprintf(stderr, "no frame came out (is GST_PLUGIN_PATH set to aifx's target/release?)\n");
    rc = 1;
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return rc;
}
