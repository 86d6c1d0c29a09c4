//! v4 sequences: assembled from their images, either every page of a sequence's images
//! (`/images?sequence_id=`) or the copies of the images already read in the areas.

use model::{Image, Resource};

use super::Transformer;
use super::checks::image_problem;
use crate::candidate::{At, Normal, Reject};
use crate::sink::{Record, RecordSink};
use crate::v4;

impl Transformer {
    /// Assembles one sequence from all pages of its images (`/images?sequence_id=`). Images
    /// that cannot be placed (no id, no position) are left out with a warning.
    pub fn v4_sequence<S: RecordSink + ?Sized>(
        &mut self,
        pages: &[Vec<u8>],
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let name = self.next_page_name("v4 sequence pages from");
        let mut images = Vec::new();
        let mut dropped = Vec::new();
        for (page, body) in pages.iter().enumerate() {
            for (index, item) in v4::page_items(body, &name)?.into_iter().enumerate() {
                let problem = match v4::image(item.get()) {
                    Ok(image) => match image_problem(&image.record) {
                        None => {
                            images.push(image);
                            continue;
                        }
                        Some(reason) => reason,
                    },
                    Err(reject) => reject.reason,
                };
                dropped.push(format!("image #{index} of page {page} left out: {problem}"));
            }
        }
        self.assemble_v4_sequence(images, dropped, &name, sink)
    }

    /// Builds every sequence the v4 images named from the copies of their images kept while
    /// reading them ([`crate::TransformConfig::sequences_from_images`]): lines through the
    /// images inside the areas, with no request per sequence.
    pub fn v4_sequences_from_images<S: RecordSink + ?Sized>(
        &mut self,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        for (id, images) in std::mem::take(&mut self.sequences) {
            let name = format!("v4 sequence {id} from its images");
            self.assemble_v4_sequence(images, Vec::new(), &name, sink)?;
        }
        Ok(())
    }

    /// The common tail of both ways to a v4 sequence: `dropped` are warnings about images
    /// left out, `name` names the sequence in a rejection without a key.
    fn assemble_v4_sequence<S: RecordSink + ?Sized>(
        &mut self,
        images: Vec<Normal<Image>>,
        dropped: Vec<String>,
        name: &str,
        sink: &mut S,
    ) -> Result<(), S::Error> {
        let at = At {
            source: name,
            index: None,
        };
        let Some(mut sequence) = v4::sequence(images) else {
            let reason = "no usable images".to_owned();
            let resource = Resource::Sequences;
            self.reject(
                Reject {
                    resource,
                    key: None,
                    reason,
                },
                at,
            );
            return Ok(());
        };
        sequence.warnings.extend(dropped);
        match self.take_sequence(sequence, at) {
            Some(sequence) => sink.record(Record::Sequence(sequence)),
            None => Ok(()),
        }
    }
}
